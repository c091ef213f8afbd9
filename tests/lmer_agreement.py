"""How closely two fits of one lmer model to the same data agree, as measured here.

Two R processes given bit-identical data can return variance parameters (theta) ~2e-7 apart: the
memory layout changes the last bit of some sums, and the REML criterion is flat to machine
precision over that range. Measured on the tests/analysis study (4 models): thetas 1.3e-7 apart
with REML criteria equal to 1e-15; bobyqa with ``rhoend = 1e-12`` and nloptwrap with
``xtol_rel = 1e-14`` show the same spread, so no optimizer setting removes it. Hence:

- the criterion at the optimum (logLik, deviance, AIC) agrees to 1e-10 relative;
- fixed-effect estimates hardly depend on theta and agree to 1e-8;
- variance components, standard errors, t, Satterthwaite df (from a numerical Hessian), p-values and
  confidence limits inherit the theta spread, amplified where a variance is barely identified
  (p-values 3e-6 apart with 4 models): 3e-5 relative, ten times the worst seen.

A real difference (another coding, ddf method, data set or formula) moves these by far more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ESTIMATE = {"rtol": 0.0, "atol": 1e-8}
CRITERION = {"rtol": 1e-10, "atol": 1e-12}
THETA_DEPENDENT = {"rtol": 3e-5, "atol": 1e-12}


def tolerance(column: str) -> dict[str, float]:
    """The tolerance for a numeric column of a tidy, side-by-side, glance or fit_info table."""
    if column.endswith("estimate"):
        return ESTIMATE
    if column in ("logLik", "deviance", "AIC", "BIC"):
        return CRITERION
    return THETA_DEPENDENT


def assert_fits_agree(
    ours: pd.DataFrame, theirs: pd.DataFrame, *, name: str, exact: tuple[str, ...] = ()
) -> None:
    """Every numeric column of two tables of lmer (and lm) results agrees within :func:`tolerance`;
    ``exact`` columns (lm results, counts) to 1e-8 relative."""
    assert list(ours.columns) == list(theirs.columns), name
    for column in ours.select_dtypes("number").columns:
        tol = {"rtol": 1e-8, "atol": 1e-8} if column in exact else tolerance(column)
        np.testing.assert_allclose(ours[column], theirs[column], err_msg=f"{name}.{column}", **tol)
