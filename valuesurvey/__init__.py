"""valuesurvey: measure the values of large language models with human questionnaires.

Pipeline stages, one subpackage each::

    instruments -> elicit -> humans -> similarity -> regressions (R) -> ranking -> figures -> report

The study directory (see :mod:`valuesurvey.study`) is the contract between stages.
"""

__version__ = "0.1.0"
