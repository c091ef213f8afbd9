"""Declared fits beyond the golden three: the recorded simplification (lmer and clmm), a rankings
analysis, and the files of an analysis that is no longer declared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from valuesurvey.analyses import run_declared_analyses
from valuesurvey.rbridge import get_session
from valuesurvey.study import Study, load_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HALF_SUM = pd.DataFrame(
    {"variable": ["nationality", "origin"], "scheme": ["half_sum", "half_sum"], "level": ["CN", "CN"]}
)
# lme4 itself, on the final formula (its numeric code columns built here by hand).
DIRECT_LMER = """
function(d, formula) {
  d$nationalityCN <- ifelse(d$nationality == "CN", 0.5, -0.5)
  d$originCN <- ifelse(d$origin == "CN", 0.5, -0.5)
  for (v in c("nationality", "origin")) {
    d[[v]] <- factor(d[[v]])
    contrasts(d[[v]]) <- matrix(c(0.5, -0.5), dimnames = list(c("CN", "US"), "CN"))
  }
  fit <- lmerTest::lmer(stats::as.formula(formula), data = d, control = lme4::lmerControl(optimizer = "bobyqa"))
  co <- summary(fit)$coefficients
  data.frame(term = rownames(co), estimate = co[, 1], std_error = co[, 2])
}
"""
DIRECT_CLMM = """
function(d, formula) {
  d$rating <- factor(d$rating, ordered = TRUE)
  d$languagezh <- as.numeric(d$language == "zh")  # language: R's default treatment coding, en = 0
  d$origin <- factor(d$origin)
  contrasts(d$origin) <- matrix(c(0.5, -0.5), dimnames = list(c("CN", "US"), "CN"))
  fit <- ordinal::clmm(lme4::expandDoubleVerts(stats::as.formula(formula)), data = d)
  co <- summary(fit)$coefficients
  data.frame(term = rownames(co), estimate = co[, 1])
}
"""


def test_lmer_simplification_is_recorded_and_the_selected_fit_is_lmer(analyzed_study: Study) -> None:
    rows = pd.read_csv(
        analyzed_study.root / "analyses" / "similarity_slopes_rows.csv", dtype={"participant": str}
    )
    session = get_session()
    formula = "cosine ~ nationality * origin + (1 + origin | participant) + (1 + nationality | model)"
    out = session.call("decl_fit_with", rows, "simplified", formula, simplify=True, coding=HALF_SUM)
    record = out["simplification"]
    assert record["step"].tolist() == sorted(record["step"].tolist())
    assert record["selected"].sum() == 1 and bool(record["selected"].iloc[-1])
    assert record["decision"].iloc[0].startswith("singular: drop the correlations (||)")
    final = record.loc[record["selected"], "random"].iloc[0]
    assert not record.loc[record["selected"], "singular"].iloc[0]
    glance = out["glance"].iloc[0]
    assert glance["random_requested"] == "(1 + originCN | participant) + (1 + nationalityCN | model)"
    assert glance["random_final"] == final != glance["random_requested"]
    assert not glance["singular"] and glance["converged"]
    direct = session.call_code(DIRECT_LMER, rows, glance["formula"])
    ours = out["tidy"]
    assert ours["term"].tolist() == direct["term"].tolist()
    np.testing.assert_allclose(ours["estimate"], direct["estimate"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours["std_error"], direct["std_error"], rtol=3e-4)


def test_clmm_with_a_random_slope_simplified_as_recorded(analyzed_study: Study) -> None:
    rows = pd.read_csv(analyzed_study.root / "analyses" / "mfq_ordinal_rows.csv")
    items = sorted(rows["item"].unique())[:8]  # a few items: clmm with slopes is slow
    rows = rows[rows["item"].isin(items)].reset_index(drop=True)
    session = get_session()
    coding = pd.DataFrame({"variable": ["origin"], "scheme": ["half_sum"], "level": ["CN"]})
    formula = "rating ~ origin + (1 + language | model)"

    def fit(data: pd.DataFrame) -> dict:
        return session.call(
            "decl_fit_with", data, "ordinal_slopes", formula, family="ordinal", simplify=True, coding=coding
        )

    # The simulated LLMs of one origin differ by noise only: no model variance, nothing to keep.
    out = fit(rows)
    record, glance = out["simplification"], out["glance"].iloc[0]
    assert record["requested"].iloc[0] == "(1 + languagezh | model)"
    assert set(record["optimizer"]) - {""} == {"nlminb"}  # ucminf fits only one random intercept
    assert record["decision"].iloc[-1].startswith("no random-effect component is supported by the data")
    assert out["tidy"].empty and glance["random_final"] == "" and not glance["converged"]
    assert "no estimates reported" in glance["messages"]

    # Models that do differ, in level and in their zh - en difference: a structure is kept.
    shift = rows["model"].map({"sim-cn-00": 2, "sim-cn-01": -1, "sim-us-00": 1, "sim-us-02": -2}).fillna(0)
    slope = np.where(
        rows["language"] == "zh", rows["model"].map({"sim-cn-02": 2, "sim-us-01": -2}).fillna(0), 0
    )
    shifted = rows.assign(rating=(rows["rating"] + shift + slope).clip(1, 5))
    out = fit(shifted)
    record, glance = out["simplification"], out["glance"].iloc[0]
    assert glance["model"] == "clmm" and glance["engine"] == "ordinal" and glance["converged"]
    selected = record[record["selected"]]
    assert len(selected) == 1 and selected["random"].iloc[0] == glance["random_final"] != ""
    assert not selected["singular"].iloc[0]
    language = out["coding"][out["coding"]["variable"] == "language"]
    assert set(language["scheme"]) == {"treatment"} and set(language["source"]) == {"default"}
    direct = session.call_code(DIRECT_CLMM, shifted, glance["formula"])
    assert out["tidy"]["term"].tolist() == direct["term"].tolist()
    np.testing.assert_allclose(out["tidy"]["estimate"], direct["estimate"], rtol=0, atol=1e-8)


def _ranking_study(root: Path, analyses: list[dict]) -> Study:
    from valuesurvey import _io
    from valuesurvey.simulation.rankings import simulate_rankings

    sim = simulate_rankings(n_cn=3, n_us=3, repetitions=2, seed=5)
    root.mkdir(parents=True, exist_ok=True)
    _io.write_parquet(root / "rankings.parquet", sim.data)
    models = sim.data.drop_duplicates("model")[["model", "origin"]]
    spec = {
        "name": "ranks",
        "instruments": ["ai_values"],
        "models": [
            {"id": m, "provider": "simulated", "origin": o} for m, o in models.itertuples(index=False)
        ],
        "analyses": analyses,
    }
    (root / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_study(root / "study.yaml")


def test_rankings_analysis_and_stale_files(tmp_path: Path) -> None:
    first = {
        "name": "rank_dimension",
        "data": "rankings",
        "where": "status == 'ok'",
        "formula": "rank ~ origin * dimension",
        "coding": {"origin": {"half_sum": "CN"}, "dimension": "sum"},
        "emmeans": [{"specs": "~ origin | dimension", "contrasts": "pairwise"}],
    }
    study = _ranking_study(tmp_path, [first])
    run_declared_analyses(study)
    tidy = pd.read_csv(study.paths.estimates("rank_dimension"))
    assert set(tidy["model"]) == {"lm"} and len(tidy) == 10  # 1 + 1 + 4 + 4: five dimensions, sum coded
    rows = pd.read_csv(study.root / "analyses" / "rank_dimension_rows.csv")
    assert list(rows.columns) == ["origin", "dimension", "rank"]
    assert set(rows["dimension"]) == {"Practical", "Epistemic", "Protective", "Social", "Personal"}
    direct = get_session().call_code(
        "function(d) { d$origin <- factor(d$origin); contrasts(d$origin) <- matrix(c(.5, -.5), dimnames ="
        " list(c('CN', 'US'), 'CN')); d$dimension <- factor(d$dimension, levels = sort(unique(d$dimension),"
        " method = 'radix')); contrasts(d$dimension) <- contr.sum(5); co <- coef(lm(rank ~ origin * dimension,"
        " d)); data.frame(estimate = unname(co)) }",
        rows,
    )
    np.testing.assert_allclose(tidy["estimate"], direct["estimate"], rtol=0, atol=1e-10)
    coding = pd.read_csv(study.paths.estimates("declared_coding"))
    assert set(coding["source"]) == {"study.yaml"} and set(coding["scheme"]) == {"half_sum", "contr_sum"}
    assert len(pd.read_csv(study.paths.estimates("rank_dimension_contrasts"))) == 5

    # renamed: the old analysis leaves nothing behind
    data = yaml.safe_load(study.paths.study_yaml.read_text(encoding="utf-8"))
    data["analyses"] = [
        {**first, "name": "rank_origin", "emmeans": [], "formula": "rank ~ origin", "coding": {}}
    ]
    study.paths.study_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    study = load_study(study.paths.study_yaml)
    run_declared_analyses(study)
    for name in ("rank_dimension", "rank_dimension_emmeans", "rank_dimension_contrasts"):
        assert not study.paths.estimates(name).exists(), name
    assert not (study.root / "analyses" / "rank_dimension_rows.csv").exists()
    assert pd.read_csv(study.paths.estimates("declared_fit_info"))["analysis"].tolist() == ["rank_origin"]

    data["analyses"] = []
    study.paths.study_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    study = load_study(study.paths.study_yaml)
    assert run_declared_analyses(study) == []
    assert not study.paths.estimates("declared_fit_info").exists()
    assert not (study.root / "analyses" / "settings.csv").exists()
