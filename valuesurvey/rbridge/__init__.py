"""The R bridge: pandas frames to R and back in one copy per column, R functions from ``R/``,
and ``lm``/``lmer`` fits with tidy output.

>>> from valuesurvey.rbridge import Coding
>>> Coding.half_sum(positive="CN")
Coding(scheme='half_sum', level='CN')
"""

from valuesurvey.rbridge._convert import frame_from_r, frame_to_r, from_r, to_r
from valuesurvey.rbridge._fit import TIDY_COLUMNS, Coding, FitResult, fit_lm, fit_lmer
from valuesurvey.rbridge._session import RSession, default_r_dir, get_session

__all__ = [
    "TIDY_COLUMNS",
    "Coding",
    "FitResult",
    "RSession",
    "default_r_dir",
    "fit_lm",
    "fit_lmer",
    "frame_from_r",
    "frame_to_r",
    "from_r",
    "get_session",
    "to_r",
]
