"""How closely two fits of one lmer model to the same data agree, as measured here.

Two processes fitting bit-identical data can return variance parameters (theta) that differ in the
fifth significant digit. The cause is the memory layout: where the vectors happen to lie changes
the last bits of the REML criterion (most likely vectorised sums whose order depends on alignment),
and along a weakly identified variance (four LLMs give the model intercept variance) the criterion is
flat to machine precision over that range. Checked: with address-space randomisation off
(``setarch -R``) repeated ``Rscript`` runs are bit-identical; with it on, about half differ. A
tighter optimizer does not help (bobyqa ``rhoend`` 1e-11 shows the spread of the default 2e-7).

Measured between ``valuesurvey analyze`` and ``Rscript R/run_models.R`` on the tests/analysis study
(20 people, 4 LLMs) simulated with seven seeds, 5 to 12 R runs each, worst relative differences:

==============================================  ========  =========
quantity                                         worst     tolerance
==============================================  ========  =========
criterion (logLik, deviance, AIC, BIC)           6e-13     1e-10
fixed-effect estimates (absolute)                3.2e-10   1e-8
SEs, t, variance components, se ratios           2.9e-5    3e-4
Satterthwaite df                                 9.0e-5    2e-3
p-values, as normal quantiles                    5.1e-5    2e-3
confidence half-widths (limit - estimate)        2.2e-4    2e-3
==============================================  ========  =========

The df come from a numerical Hessian and so spread more than theta; p-values and confidence limits
inherit the df spread, most where the df are small (t quantiles are steep there). Each quantity is
compared on the scale where the spread enters linearly: a p-value's relative spread grows like t²
(p = 0.0018 moved 6e-5 relative while its normal quantile moved 6e-6), and a confidence limit near
zero has a large relative spread although its distance from the estimate does not. Tolerances are
ten times the worst seen. A real difference (another coding, ddf method, data set or formula) moves
these far more, and text columns (formula, ddf, optimizer, messages) must match exactly.

Attempts that ended singular or unconverged (rows of ``simplification.csv`` that the simplification
rejected) stop on a boundary or at the iteration limit, where the criterion itself spreads like theta:
a singular maximal attempt of the demo's RQ1 moved 1.7e-9 relative between two runs. Their criteria
are compared with the theta tolerance; accepted attempts keep the criterion tolerance. On a
singular attempt lme4's gradient check (``converged`` and its warning in ``messages``) flips with the
same last bits — seen once in the demo's RQ1 maximal attempt — while the decision cannot: the
simplification drops a singular structure whether or not it converged. So on singular rows those two
columns are not compared; ``decision``, ``selected`` and every accepted row must match exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ESTIMATE = {"rtol": 0.0, "atol": 1e-8}
CRITERION = {"rtol": 1e-10, "atol": 1e-12}
THETA_DEPENDENT = {"rtol": 3e-4, "atol": 1e-12}
DF_DEPENDENT = {"rtol": 2e-3, "atol": 1e-12}
# Normal quantiles of p-values near 1 are near 0, where only an absolute tolerance makes sense.
P_QUANTILE = {"rtol": 2e-3, "atol": 2e-3}
_CRITERIA = ("logLik", "deviance", "AIC", "BIC")
# Below this a p-value is zero for every purpose (and R's CSV writer prints subnormals coarsely).
_P_FLOOR = 1e-300


def tolerance(column: str) -> dict[str, float]:
    """The tolerance for a numeric column of a tidy, side-by-side, glance or fit_info table."""
    if column.endswith("estimate"):
        return ESTIMATE
    if column in _CRITERIA:
        return CRITERION
    if column.endswith("p_value"):
        return P_QUANTILE
    if column.endswith(("df", "conf_low", "conf_high")):
        return DF_DEPENDENT
    return THETA_DEPENDENT


def comparable(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``frame[column]`` on the scale where the spread of theta enters linearly."""
    values = frame[column].to_numpy(float)
    if column.endswith("p_value"):
        return stats.norm.isf(np.maximum(values, _P_FLOOR) / 2)
    if column.endswith(("conf_low", "conf_high")):
        estimate = column.removesuffix("conf_low").removesuffix("conf_high") + "estimate"
        return values - frame[estimate].to_numpy(float)
    return values


def assert_fits_agree(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    *,
    name: str,
    exact: tuple[str, ...] = (),
    variance: tuple[str, ...] = (),
) -> None:
    """Two tables of lmer (and lm) results agree: text columns exactly, numeric columns within
    :func:`tolerance` on the :func:`comparable` scale; ``exact`` columns (lm results, counts) to
    1e-8 relative, ``variance`` columns (variance components) as SEs."""
    assert list(ours.columns) == list(theirs.columns), name
    numeric = ours.select_dtypes("number").columns
    text = [column for column in ours.columns if column not in numeric]
    attempts = {"singular", "converged", "messages"} <= set(ours.columns)  # simplification.csv
    if attempts:
        singular = ours["singular"].astype(bool).to_numpy()
        on_boundary = singular | ~ours["converged"].astype(bool).to_numpy()
        fragile = ["converged", "messages"]
        pd.testing.assert_frame_equal(ours.loc[~singular, fragile], theirs.loc[~singular, fragile], obj=name)
        text = [column for column in text if column not in fragile]
    pd.testing.assert_frame_equal(ours[text], theirs[text], obj=name)
    for column in numeric:
        if column in exact:
            np.testing.assert_allclose(
                ours[column], theirs[column], rtol=1e-8, atol=1e-8, err_msg=f"{name}.{column}"
            )
        elif column in _CRITERIA and attempts:
            for rows, rule in ((on_boundary, THETA_DEPENDENT), (~on_boundary, CRITERION)):
                np.testing.assert_allclose(
                    ours.loc[rows, column], theirs.loc[rows, column], err_msg=f"{name}.{column}", **rule
                )
        else:
            np.testing.assert_allclose(
                comparable(ours, column),
                comparable(theirs, column),
                err_msg=f"{name}.{column}",
                **(THETA_DEPENDENT if column in variance else tolerance(column)),
            )
