"""Run ``valuesurvey <args>`` in a fresh process (the kill-and-resume test SIGKILLs it)."""

from __future__ import annotations

import sys

from valuesurvey.cli import app

if __name__ == "__main__":
    app(sys.argv[1:], prog_name="valuesurvey")
