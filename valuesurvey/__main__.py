from valuesurvey.cli import main

main()
