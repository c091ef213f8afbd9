"""The country level through the analysis stage (real R), on a small multi-country study with a
country below min_n and items never asked in one country; then the same tables re-fitted by
``Rscript R/country_models.R``; two countries; weights; settings errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from valuesurvey.analysis import analyze_study
from valuesurvey.country_level import (
    COUNTRY_TABLES,
    TIDY_COLUMNS,
    CountryLevelConfig,
    country_level,
    read_country_tables,
)
from valuesurvey.errors import ConfigError, DataError
from valuesurvey.study import load_study

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WVS_ITEMS = [f"Q{q}" for q in range(177, 196)]
POSITIONS = {"US": 0.0, "CA": 0.15, "DE": 0.35, "BR": 0.5, "JP": 0.7, "CN": 1.0}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, country_study_factory):
    factory = country_study_factory
    root = tmp_path_factory.mktemp("countries")
    study = factory(
        root,
        small={"MV": 10},
        not_asked={"JP": ["Q182", "Q183"]},
        n_models=3,
        analysis={"country_level": {"min_n": 30, "removals": True, "bootstrap": 200}},
    )
    analyze_study(study)
    return study, read_country_tables(study)


def test_every_table_has_its_columns_and_no_silent_nan(analysed) -> None:
    study, tables = analysed
    for stem, columns in COUNTRY_TABLES.items():
        frame = pd.read_csv(study.paths.estimates(stem), keep_default_na=False, na_values=[""])
        assert list(frame.columns) == list(columns), stem
    for name in ("similarity", "distributions", "culture", "association", "line"):
        frame = getattr(tables, name)
        assert list(frame.columns[: len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
        assert len(frame) and not frame[["estimate", "conf_low", "conf_high", "n"]].isna().any().any(), name
        assert (frame["conf_low"] <= frame["conf_high"]).all(), name
        if name != "distributions":  # bias-corrected intervals of distances may lie below the estimate
            inside = (frame["conf_low"] <= frame["estimate"] + 1e-9) & (
                frame["estimate"] <= frame["conf_high"] + 1e-9
            )
            assert inside.all(), name


def test_small_country_is_reported_with_its_n(analysed) -> None:
    _, tables = analysed
    mv = tables.coverage.set_index("country").loc["MV"]
    assert mv["status"] == "below_min_n" and int(mv["n"]) == 10 and int(mv["n_respondents"]) == 10
    assert "MV" not in set(tables.similarity["country"])
    excluded = tables.exclusions[
        (tables.exclusions["kind"] == "country") & (tables.exclusions["country"] == "MV")
    ]
    assert len(excluded) == 1 and "fewer than min_n = 30" in excluded["reason"].iloc[0]


def test_items_never_asked_are_excluded_for_that_country_and_named(analysed) -> None:
    study, tables = analysed
    jp = tables.coverage.set_index("country").loc["JP"]
    assert (
        jp["status"] == "analysed" and jp["items_not_asked"] == "Q182;Q183" and int(jp["items_asked"]) == 17
    )
    named = tables.exclusions[(tables.exclusions["kind"] == "item") & (tables.exclusions["country"] == "JP")]
    assert sorted(named["item"]) == ["Q182", "Q183"]
    dist = tables.distributions
    assert set(dist[dist["country"] == "JP"]["item"]) == {"all", *(set(WVS_ITEMS) - {"Q182", "Q183"})}
    levels = tables.exclusions[
        (tables.exclusions["kind"] == "removal_level") & (tables.exclusions["country"] == "JP")
    ]
    assert sorted(levels["item"]) == ["Q182", "Q183"]
    # JP's mean cosine to one model, by hand over the 17 items asked there (unweighted study)
    humans = pd.read_parquet(study.paths.humans("wvs7"))
    people = humans[humans["nationality"] == "JP"].pivot(index="participant", columns="item", values="rating")
    kept = [i for i in WVS_ITEMS if i not in ("Q182", "Q183")]
    ratings = pd.read_parquet(study.paths.llm_ratings)
    llm = ratings[
        (ratings["model"] == "sim-us-01") & (ratings["language"] == "en") & (ratings["persona"] == "none")
    ]
    vector = llm.groupby("item")["rating"].mean()[kept].to_numpy()
    by_hand = np.mean([np.corrcoef(row, vector)[0, 1] for row in people[kept].to_numpy() if row.std() > 0])
    row = tables.similarity.query(
        "country == 'JP' and model == 'sim-us-01' and condition == 'en/none' and removed == 'none'"
    )
    assert row["estimate"].iloc[0] == pytest.approx(by_hand, abs=1e-10)
    assert int(row["n"].iloc[0]) == 60


def test_cultural_distance_grows_with_the_planted_position(analysed) -> None:
    _, tables = analysed
    culture = tables.culture.set_index("country")
    assert culture.loc["US", "estimate"] == 0 and culture.loc["US", "reference"] == "US"
    assert set(culture["metric"]) == {"fst"} and (culture["estimate"] >= 0).all()
    rho = stats.spearmanr([POSITIONS[c] for c in culture.index], culture["estimate"]).statistic
    assert rho > 0.9


def test_association_per_model_has_the_planted_signs(analysed) -> None:
    _, tables = analysed
    assoc = tables.association.query("condition == 'en/none' and metric == 'slope'")
    per_model = assoc[assoc["model"] != "all"].set_index("model")
    assert (per_model.loc[per_model["origin"] == "US", "estimate"] < 0).all()
    assert (per_model.loc[per_model["origin"] == "CN", "estimate"] > 0).all()
    assert int(per_model["n"].iloc[0]) == 6  # countries with a distance (MV is not estimated)
    overall = assoc[assoc["model"] == "all"]
    assert len(overall) == 1 and overall["method"].iloc[0].startswith("lmer similarity ~ distance")
    metrics = set(tables.association.query("condition == 'en/none' and model == 'all'")["metric"])
    assert metrics == {"intercept", "slope", "slope_two_stage", "correlation"}
    steps = tables.steps[tables.steps["condition"] == "en/none"]
    assert steps["chosen"].sum() == 1 and steps["structure"].iloc[0] == "maximal"
    line = tables.line[tables.line["condition"] == "en/none"]
    assert len(line) == 50 and (line["conf_low"] <= line["estimate"]).all()


def test_removal_levels_are_estimated_per_country(analysed) -> None:
    _, tables = analysed
    sim = tables.similarity
    us = sim[(sim["country"] == "US") & (sim["model"] == "sim-cn-00") & (sim["condition"] == "en/none")]
    assert sorted(us["removed"]) == sorted(["none", *WVS_ITEMS])
    jp = sim[(sim["country"] == "JP") & (sim["model"] == "sim-cn-00") & (sim["condition"] == "en/none")]
    assert "Q182" not in set(jp["removed"]) and len(jp) == 18


def test_rscript_refits_the_association_from_the_tables(analysed, tmp_path: Path) -> None:
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed")
    study, tables = analysed
    done = subprocess.run(
        ["Rscript", str(ROOT / "R" / "country_models.R"), str(study.root), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    refit = pd.read_csv(tmp_path / "countries_association_r.csv", keep_default_na=False, na_values=[""])
    ours = tables.association.set_index(["condition", "model", "metric"])["estimate"]
    theirs = refit.set_index(["condition", "model", "metric"])["estimate"].dropna()
    assert set(theirs.index) == set(ours.index)
    np.testing.assert_allclose(theirs.loc[ours.index].to_numpy(), ours.to_numpy(), rtol=1e-6, atol=1e-9)


def test_a_rerun_gives_the_same_tables(analysed) -> None:
    study, tables = analysed
    again = country_level(
        pd.read_parquet(study.paths.humans("wvs7")), pd.read_parquet(study.paths.llm_ratings),
        instrument="wvs7", items=WVS_ITEMS, scale=(1, 10), config=CountryLevelConfig.from_study(study),
    )  # fmt: skip
    base = tables.similarity[tables.similarity["removed"] == "none"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        again.similarity.reset_index(drop=True)[["model", "condition", "country", "estimate", "conf_low"]],
        base[["model", "condition", "country", "estimate", "conf_low"]],
        check_dtype=False, atol=1e-9,
    )  # fmt: skip


def test_a_country_s_intervals_do_not_depend_on_the_others(analysed) -> None:
    study, _ = analysed
    humans, ratings = pd.read_parquet(study.paths.humans("wvs7")), pd.read_parquet(study.paths.llm_ratings)
    run = {
        which: country_level(
            humans, ratings, instrument="wvs7", items=WVS_ITEMS, scale=(1, 10),
            config=CountryLevelConfig(countries=which, min_n=30, n_boot=200),
        ).similarity.query("country == 'DE'").reset_index(drop=True)
        for which in ("all", ("DE",))
    }  # fmt: skip
    pd.testing.assert_frame_equal(run["all"], run[("DE",)])


def test_weights_are_used_when_asked(country_study_factory, tmp_path: Path) -> None:
    study = country_study_factory(tmp_path, positions={"US": 0.0, "DE": 0.4}, n_models=1, weights=True)
    humans, ratings = pd.read_parquet(study.paths.humans("wvs7")), pd.read_parquet(study.paths.llm_ratings)
    config = CountryLevelConfig.from_study(study)
    weighted = country_level(
        humans, ratings, instrument="wvs7", items=WVS_ITEMS, scale=(1, 10), config=config
    )
    plain = country_level(
        humans, ratings, instrument="wvs7", items=WVS_ITEMS, scale=(1, 10),
        config=CountryLevelConfig(min_n=30, n_boot=200, weights=False),
    )  # fmt: skip
    people = humans[humans["nationality"] == "DE"]
    wide = people.pivot(index="participant", columns="item", values="rating")[WVS_ITEMS]
    w = people.groupby("participant")["weight"].first().loc[wide.index].to_numpy()
    llm = ratings[
        (ratings["model"] == "sim-us-00") & (ratings["language"] == "zh") & (ratings["persona"] == "US")
    ]
    vector = llm.groupby("item")["rating"].mean()[WVS_ITEMS].to_numpy()
    r = np.array([np.corrcoef(row, vector)[0, 1] for row in wide.to_numpy()])
    ok = ~np.isnan(r)
    query = "country == 'DE' and model == 'sim-us-00' and condition == 'zh/US'"
    assert weighted.similarity.query(query)["estimate"].iloc[0] == pytest.approx(
        (w[ok] * r[ok]).sum() / w[ok].sum(), abs=1e-10
    )
    assert plain.similarity.query(query)["estimate"].iloc[0] == pytest.approx(r[ok].mean(), abs=1e-10)
    assert weighted.similarity["weighted"].all() and not plain.similarity["weighted"].any()


def test_weights_follow_the_humans_weights_unless_the_country_level_says(
    country_study_factory, tmp_path: Path
) -> None:
    study = country_study_factory(tmp_path, positions={"US": 0.0, "DE": 0.4}, n_models=1)
    spec = yaml.safe_load(study.paths.study_yaml.read_text(encoding="utf-8"))
    del spec["analysis"]["country_level"]["weights"]

    def config(humans_weights: str, country_weights: bool | None = None) -> CountryLevelConfig:
        spec["humans"] = {"wvs7": {"path": "wvs7.sav", "weights": humans_weights}}
        if country_weights is not None:
            spec["analysis"]["country_level"]["weights"] = country_weights
        study.paths.study_yaml.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return CountryLevelConfig.from_study(load_study(study.paths.study_yaml), "wvs7")

    assert config("W_WEIGHT").weights is True  # as the RQ fits: humans.wvs7.weights names the column
    assert config("none").weights is False
    assert config("W_WEIGHT", country_weights=False).weights is False
    assert config("none", country_weights=True).weights is True


def test_two_countries_skip_the_association_with_a_reason(country_study_factory, tmp_path: Path) -> None:
    study = country_study_factory(tmp_path, positions={"US": 0.0, "CN": 1.0}, n_models=1)
    analyze_study(study)
    tables = read_country_tables(study)
    assert tables.association.empty and tables.line.empty and tables.steps.empty
    skipped = tables.exclusions[tables.exclusions["kind"] == "association"]
    assert len(skipped) == 6 and skipped["reason"].str.contains("at least 3").all()
    assert set(tables.culture["country"]) == {"US", "CN"} and len(tables.similarity) == 2 * 2 * 6


def test_missing_reference_is_said_not_crashed(country_study_factory, tmp_path: Path) -> None:
    study = country_study_factory(tmp_path, positions={"DE": 0.0, "JP": 0.5, "BR": 1.0}, n_models=1)
    humans, ratings = pd.read_parquet(study.paths.humans("wvs7")), pd.read_parquet(study.paths.llm_ratings)
    tables = country_level(humans, ratings, instrument="wvs7", items=WVS_ITEMS, scale=(1, 10),
                           config=CountryLevelConfig(min_n=30, n_boot=200))  # fmt: skip
    assert tables.culture.empty and len(tables.similarity)
    reason = tables.exclusions.query("kind == 'reference'")["reason"].iloc[0]
    assert "reference country US has no respondents" in reason


def test_settings_errors_name_the_field(tmp_path: Path) -> None:
    base = "name: x\nmodels: [{id: sim-a, provider: simulated, origin: US}]\n"
    for analysis, field in (
        ("{countries: [DE, Atlantis]}", "analysis.countries"),
        ("{countries: all, country_level: {reference: XX}}", "analysis.country_level.reference"),
        ("{countries: all, country_level: {bootstrap: 10}}", "analysis.country_level.bootstrap"),
        ("{countries: all, country_level: {distance: euclid}}", "analysis.country_level.distance"),
    ):
        (tmp_path / "study.yaml").write_text(base + f"analysis: {analysis}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            load_study(tmp_path / "study.yaml")


def test_a_rating_off_the_scale_is_a_data_error() -> None:
    humans = pd.DataFrame(
        {"participant": "p", "nationality": "DE", "item": ["Q177"], "rating": [11.0], "weight": 1.0}
    )
    with pytest.raises(DataError, match="not a point of the scale 1-10"):
        country_level(
            humans, pd.DataFrame(), instrument="wvs7", items=WVS_ITEMS, scale=(1, 10), source="h.parquet"
        )
