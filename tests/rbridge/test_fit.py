"""lm and lmer through the bridge equal the same fits run by Rscript (and lm equals statsmodels)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from lmer_agreement import THETA_DEPENDENT, assert_fits_agree

from valuesurvey.errors import RError
from valuesurvey.rbridge import TIDY_COLUMNS, Coding, fit_lm, fit_lmer

ROOT = Path(__file__).resolve().parents[2]
CODING = {"nationality": Coding.half_sum("CN"), "origin": Coding.half_sum("CN")}
LMER_FORMULA = "cosine ~ nationality * origin + (1 | participant) + (1 | model)"


def rscript_fit(tmp_path: Path, data: pd.DataFrame, formula: str, method: str) -> dict[str, pd.DataFrame]:
    data_csv, coding_csv = tmp_path / "data.csv", tmp_path / "coding.csv"
    data.to_csv(data_csv, index=False)
    pd.DataFrame(
        {"variable": list(CODING), "scheme": [c.scheme for c in CODING.values()], "level": "CN"}
    ).to_csv(coding_csv, index=False)
    prefix = tmp_path / "out"
    subprocess.run(
        ["Rscript", str(ROOT / "R" / "fit.R"), str(data_csv), formula, method, str(coding_csv), str(prefix)],
        check=True,
        capture_output=True,
    )
    return {part: pd.read_csv(f"{prefix}_{part}.csv") for part in ("tidy", "random", "glance")}


def assert_tidy_equal(ours: pd.DataFrame, theirs: pd.DataFrame, *, exact: tuple[str, ...]) -> None:
    """``exact`` columns to 1e-8; the others within what lmer reproduces (``tests/lmer_agreement.py``)."""
    columns = list(TIDY_COLUMNS)
    assert_fits_agree(ours[columns], theirs[columns], name="tidy", exact=exact)


def test_lm_equals_rscript(tmp_path, r_session, crossed_data):
    ours = fit_lm("cosine ~ nationality * origin", crossed_data, coding=CODING)
    theirs = rscript_fit(tmp_path, crossed_data, "cosine ~ nationality * origin", "lm")
    assert tuple(ours.tidy.columns) == TIDY_COLUMNS
    assert list(ours.tidy["term"]) == ["(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"]
    assert_tidy_equal(ours.tidy, theirs["tidy"], exact=TIDY_COLUMNS[1:])


def test_lmer_crossed_equals_rscript(tmp_path, r_session, crossed_data):
    ours = fit_lmer(LMER_FORMULA, crossed_data, coding=CODING)
    theirs = rscript_fit(tmp_path, crossed_data, LMER_FORMULA, "lmer")
    assert_tidy_equal(ours.tidy, theirs["tidy"], exact=("estimate",))
    np.testing.assert_allclose(ours.random["estimate"], theirs["random"]["estimate"], **THETA_DEPENDENT)
    assert list(ours.random["term"]) == ["sd__(Intercept)", "sd__(Intercept)", "sd__Observation"]
    glance = ours.glance.iloc[0]
    assert glance["nobs"] == len(crossed_data)
    assert glance["n_participant"] == crossed_data["participant"].nunique()
    assert glance["n_model"] == crossed_data["model"].nunique()
    assert glance["ddf"] == "Satterthwaite" and bool(glance["REML"])
    assert glance["logLik"] == pytest.approx(theirs["glance"]["logLik"].iloc[0], rel=1e-10)


def test_lm_equals_statsmodels_ols(r_session, crossed_data):
    data = crossed_data.assign(
        nat=np.where(crossed_data["nationality"] == "CN", 0.5, -0.5),
        org=np.where(crossed_data["origin"] == "CN", 0.5, -0.5),
    )
    ours = fit_lm("cosine ~ nationality * origin", crossed_data, coding=CODING).tidy
    ols = smf.ols("cosine ~ nat * org", data=data).fit()
    np.testing.assert_allclose(ours["estimate"], ols.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours["std_error"], ols.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours["p_value"], ols.pvalues.to_numpy(), rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(ours[["conf_low", "conf_high"]], ols.conf_int().to_numpy(), rtol=1e-10)


def test_half_sum_coding_is_recorded_and_in_the_design_matrix(r_session, crossed_data):
    fit = fit_lm("cosine ~ nationality", crossed_data, coding={"nationality": Coding.half_sum("CN")})
    coding = fit.coding.set_index("level")["value"]
    assert coding.to_dict() == {"CN": 0.5, "US": -0.5}
    matrix = r_session.call_code(
        "function(d) { d$nationality <- factor(d$nationality);"
        " contrasts(d$nationality) <- matrix(c(0.5, -0.5), dimnames = list(c('CN','US'), 'CN'));"
        " as.data.frame(model.matrix(~ nationality, d)) }",
        crossed_data,
    )
    expected = np.where(crossed_data["nationality"] == "CN", 0.5, -0.5)
    np.testing.assert_array_equal(matrix["nationalityCN"], expected)
    # the main effect under +/-0.5 coding is the CN - US difference in means
    means = crossed_data.groupby("nationality")["cosine"].mean()
    assert fit.tidy.set_index("term").loc["nationalityCN", "estimate"] == pytest.approx(
        means["CN"] - means["US"], rel=1e-10
    )


def test_treatment_and_contr_sum_codings(r_session, crossed_data):
    data = crossed_data.assign(removed=np.resize(["none", "Care", "Purity"], len(crossed_data)))
    treatment = fit_lm("cosine ~ removed", data, coding={"removed": Coding.treatment("none")})
    assert list(treatment.tidy["term"]) == ["(Intercept)", "removedCare", "removedPurity"]
    means = data.groupby("removed")["cosine"].mean()
    assert treatment.tidy["estimate"].iloc[0] == pytest.approx(means["none"], rel=1e-10)
    summed = fit_lm("cosine ~ removed", data, coding={"removed": Coding.contr_sum()})
    assert summed.tidy["estimate"].iloc[0] == pytest.approx(means.mean(), rel=1e-10)


def test_singular_fit_is_kept_as_data(r_session, crossed_data):
    # Every batch holds the same values, so the batch variance is exactly zero: a singular fit.
    values = np.random.default_rng(0).normal(size=200)
    data = pd.DataFrame({"cosine": np.tile(values, 3), "batch": np.repeat(["b1", "b2", "b3"], 200)})
    fit = fit_lmer("cosine ~ 1 + (1 | batch)", data)
    assert fit.singular
    assert any("singular" in message for message in fit.messages)


def test_kenward_roger_on_request(r_session, crossed_data):
    small = crossed_data.iloc[:400]
    fit = fit_lmer(LMER_FORMULA, small, coding=CODING, ddf="Kenward-Roger")
    assert fit.glance["ddf"].iloc[0] == "Kenward-Roger"
    assert (fit.tidy["df"] > 0).all()


@pytest.mark.parametrize(
    ("formula", "pattern"),
    [
        ("cosine ~ nationality + missing_column", r"not in the data: missing_column"),
        ("cosine ~ nationality +* origin", r"cannot parse formula"),
        ("cosine ~ nationality", r"at least one random-effect term"),
    ],
)
def test_bad_formulas_raise_clear_errors(r_session, crossed_data, formula, pattern):
    fitter = fit_lmer if "missing" not in formula and "+*" not in formula else fit_lm
    with pytest.raises(RError, match=pattern):
        fitter(formula, crossed_data)


def test_bad_coding_level_lists_valid_levels(r_session, crossed_data):
    with pytest.raises(RError, match=r"level 'China' of 'nationality' not found; levels are: 'CN', 'US'"):
        fit_lm("cosine ~ nationality", crossed_data, coding={"nationality": Coding.half_sum("China")})


def test_r_error_carries_message_and_call(r_session):
    with pytest.raises(RError) as info:
        r_session.call_code("function() sqrt('a')")
    assert "non-numeric argument to mathematical function" in str(info.value)
    assert info.value.call == 'sqrt("a")'
