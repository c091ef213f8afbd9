"""Dimension scores after reverse keying, the generic item-response humans loader, and a user's
instrument through the analysis stage (Mini-IPIP, with and without human data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from valuesurvey import _io, instruments
from valuesurvey.analysis import analyze_study
from valuesurvey.errors import ConfigError, DataError
from valuesurvey.humans import load_item_responses
from valuesurvey.scoring import (
    HUMAN_SCORE_COLUMNS,
    LLM_ITEM_COLUMNS,
    LLM_SCORE_COLUMNS,
    human_scores,
    llm_scores,
)
from valuesurvey.simulation.ratings import SimulatedLLM, simulate_humans, simulate_llm_ratings
from valuesurvey.study import load_study

pytestmark = pytest.mark.timeout(300)
IPIP = instruments.get("mini_ipip")
ITEMS = list(IPIP.item_ids)


def hand_llm_scores(ratings: pd.DataFrame) -> dict[tuple[str, str, str, str], float]:
    """Dimension scores computed the long way: per item mean of valid reps, 6 - mean if reversed."""
    out: dict[tuple[str, str, str, str], list[float]] = {}
    ok = ratings[(ratings["status"] == "ok") & (ratings["instrument"] == "mini_ipip")]
    for (model, language, persona, item), frame in ok.groupby(["model", "language", "persona", "item"]):
        mean = frame["rating"].mean()
        keyed = 1 + 5 - mean if IPIP.item(item).reverse else mean
        out.setdefault((model, language, persona, IPIP.item(item).dimension), []).append(keyed)
    return {key: float(np.mean(values)) for key, values in out.items()}


def test_llm_scores_reverse_keyed_items_and_average_per_dimension() -> None:
    rows = []
    for rep, (a, b) in enumerate([(5, 1), (4, 2)]):
        rows += [
            {"item": "mini_ipip_01", "rating": a, "rep": rep},  # Extraversion, +
            {"item": "mini_ipip_06", "rating": b, "rep": rep},  # Extraversion, reversed
            {"item": "mini_ipip_02", "rating": 3, "rep": rep},  # Agreeableness, +
        ]
    rows.append({"item": "mini_ipip_07", "rating": np.nan, "rep": 0, "status": "refusal"})
    ratings = pd.DataFrame(rows).assign(
        model="m", origin="US", language="en", persona="none", instrument="mini_ipip"
    )
    ratings["status"] = ratings.get("status", pd.Series(dtype=object)).fillna("ok")
    scores = llm_scores(ratings, IPIP)
    assert tuple(scores.columns) == LLM_SCORE_COLUMNS
    by_dim = scores.set_index("dimension")
    # Extraversion: item 1 mean 4.5; item 6 mean 1.5, reversed 6 - 1.5 = 4.5.
    assert by_dim.loc["Extraversion", "score"] == pytest.approx(4.5)
    assert by_dim.loc["Extraversion", ["n_items", "items_total"]].tolist() == [2, 4]
    # Agreeableness: item 2 = 3; item 7 refused in its only rep, so it does not count.
    assert by_dim.loc["Agreeableness", "score"] == pytest.approx(3.0)
    assert by_dim.loc["Agreeableness", "n_items"] == 1
    assert list(scores["dimension"]) == ["Extraversion", "Agreeableness"]


def test_human_scores_are_per_participant_means_then_weighted_by_nationality() -> None:
    humans = pd.DataFrame(
        {
            "participant": ["p1", "p1", "p2", "p2"],
            "nationality": ["US", "US", "US", "US"],
            "item": ["mini_ipip_01", "mini_ipip_16", "mini_ipip_01", "mini_ipip_16"],
            "rating": [5.0, 1.0, 2.0, 2.0],
            "weight": [3.0, 3.0, 1.0, 1.0],
        }
    )
    scores = human_scores(humans, IPIP, weighted=True)
    assert tuple(scores.columns) == HUMAN_SCORE_COLUMNS
    (row,) = scores.to_dict("records")
    # p1: (5 + (6 - 1)) / 2 = 5; p2: (2 + 4) / 2 = 3.
    assert row["score"] == pytest.approx(4.0) and row["sd"] == pytest.approx(np.std([5, 3], ddof=1))
    assert row["weighted_score"] == pytest.approx((3 * 5 + 1 * 3) / 4)
    assert row["n"] == 2


def _wide_humans(seed: int = 3, n: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    profiles = {"CN": rng.uniform(2, 4, len(ITEMS)), "US": rng.uniform(2, 4, len(ITEMS))}
    long = simulate_humans(profiles, ITEMS, n_per_nationality=n, scale=(1, 5), seed=seed)
    wide = long.pivot(index=["participant", "nationality"], columns="item", values="rating").reset_index()
    return wide.rename(columns={"nationality": "country"}), profiles


def test_item_responses_loader_reads_any_rating_instrument(tmp_path: Path) -> None:
    wide, _ = _wide_humans()
    wide["weight"] = 1.0
    wide.loc[0, "mini_ipip_03"] = np.nan
    path = tmp_path / "ipip.csv"
    wide.to_csv(path, index=False)
    data = load_item_responses(path, IPIP, countries=("CN", "US"))
    assert set(data.table["item"]) == set(ITEMS)
    assert sorted(data.table["nationality"].unique()) == ["CN", "US"]
    assert len(data.table) == len(wide) * 20 and data.table["rating"].isna().sum() == 1
    assert data.report.weight_column == "weight" and data.report.id_column == "participant"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda w: w.drop(columns="country"), r"ipip\.csv: no 'country' column"),
        (
            lambda w: w.drop(columns=["mini_ipip_04", "mini_ipip_19"]),
            r"ipip\.csv: missing item column\(s\) mini_ipip_04, mini_ipip_19",
        ),
        (
            lambda w: w.assign(mini_ipip_05=7),
            r"ipip\.csv: column 'mini_ipip_05': value 7 outside the scale 1-5",
        ),
        (lambda w: w.assign(mini_ipip_05="often"), r"ipip\.csv: column 'mini_ipip_05'"),
    ],
)
def test_item_responses_errors_name_file_and_column(tmp_path: Path, edit, message: str) -> None:
    wide, _ = _wide_humans()
    path = tmp_path / "ipip.csv"
    edit(wide).to_csv(path, index=False)
    with pytest.raises(DataError, match=message) as info:
        load_item_responses(path, IPIP, countries=("CN", "US"))
    assert "\n" not in str(info.value)


def _ipip_study(root: Path, *, humans: bool, fits: list[str] | None = None) -> object:
    models = [SimulatedLLM(f"sim-{o.lower()}", o, 0.7 if o == "CN" else 0.2) for o in ("CN", "US")]
    wide, profiles = _wide_humans()
    ratings = simulate_llm_ratings(
        profiles,
        ITEMS,
        models,
        instrument="mini_ipip",
        languages=("en",),
        repetitions=2,
        scale=(1, 5),
        seed=5,
    )
    _io.write_parquet(root / "llm_ratings.parquet", ratings)
    spec: dict = {
        "name": "ipip",
        "instruments": ["mini_ipip"],
        "languages": ["en"],
        "repetitions": 2,
        "models": [{"id": m.id, "provider": "simulated", "origin": m.origin} for m in models],
        "analysis": {"fits": fits or ["lm"]},
    }
    if humans:
        wide.to_csv(root / "ipip_people.csv", index=False)
        spec["humans"] = {"mini_ipip": {"path": "ipip_people.csv", "format": "items", "synthetic": True}}
    (root / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_study(root / "study.yaml"), ratings


def test_analyze_without_humans_writes_only_the_scores(tmp_path: Path) -> None:
    study, ratings = _ipip_study(tmp_path, humans=False)
    analyze_study(study)
    scores = pd.read_csv(tmp_path / "scores" / "mini_ipip_llm.csv")
    assert tuple(scores.columns) == LLM_SCORE_COLUMNS
    expected = hand_llm_scores(ratings)
    got = {(r.model, r.language, r.persona, r.dimension): r.score for r in scores.itertuples(index=False)}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    items = pd.read_csv(tmp_path / "scores" / "mini_ipip_llm_items.csv")
    assert tuple(items.columns) == LLM_ITEM_COLUMNS and len(items) == 2 * 3 * 20  # models × personas × items
    flipped = items[items["reverse"]]
    assert set(flipped["item"]) == {i.id for i in IPIP.items if i.reverse}
    assert (flipped["keyed_mean"] == 6 - flipped["mean_rating"]).all()
    plain = items[~items["reverse"]]
    assert (plain["keyed_mean"] == plain["mean_rating"]).all()
    assert not (tmp_path / "scores" / "mini_ipip_humans.csv").exists()
    assert not study.paths.similarity("mini_ipip").exists()


def test_analyze_with_item_responses_computes_similarity_and_human_scores(tmp_path: Path, caplog) -> None:
    study, _ = _ipip_study(tmp_path, humans=True)
    analyze_study(study)
    sim = pd.read_parquet(study.paths.similarity("mini_ipip"))
    assert set(sim["removed"].astype(str)) == {"none", *IPIP.dimensions}
    assert sim["cosine"].notna().any()
    people = pd.read_csv(tmp_path / "scores" / "mini_ipip_humans.csv")
    assert set(people["nationality"]) == {"CN", "US"} and set(people["dimension"]) == set(IPIP.dimensions)
    assert (people["n"] == 15).all()
    # The paper's RQ1-RQ3 need both prompt languages: RQ1/RQ3 pair CN people with zh prompts (none
    # here), RQ2 contrasts language-congruent with -incongruent pairs. Not fitted, each with a warning.
    assert not any(study.paths.estimates(f"{a}_mini_ipip").exists() for a in ("rq1", "rq2", "rq3"))
    assert (
        "mini_ipip rq2: needs language-congruent and -incongruent pairs (prompt languages en)" in caplog.text
    )


def test_humans_for_an_instrument_without_a_loader_points_at_format_items(tmp_path: Path) -> None:
    _ipip_study(tmp_path, humans=True)
    data = yaml.safe_load((tmp_path / "study.yaml").read_text(encoding="utf-8"))
    data["humans"]["mini_ipip"]["format"] = "csv"
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    from valuesurvey.humans import prepare_study_humans

    with pytest.raises(ConfigError, match=r"humans\.mini_ipip\.format: .*write format: items"):
        prepare_study_humans(load_study(tmp_path / "study.yaml"))


def test_a_users_instrument_file_flows_through_analyze_figures_and_the_report_text(tmp_path: Path) -> None:
    """An instrument only the study knows (not shipped): similarity, scores, figures, names."""
    from valuesurvey.figures import make_figures
    from valuesurvey.report.content import open_study

    _ipip_study(tmp_path, humans=True)
    data = yaml.safe_load((instruments.DATA_DIR / "mini_ipip.yaml").read_text(encoding="utf-8"))
    data.update(id="my_ipip", name="My IPIP copy")
    (tmp_path / "my_ipip.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    ratings = pd.read_parquet(tmp_path / "llm_ratings.parquet").assign(instrument="my_ipip")
    _io.write_parquet(tmp_path / "llm_ratings.parquet", ratings)
    spec = yaml.safe_load((tmp_path / "study.yaml").read_text(encoding="utf-8"))
    spec.update(instruments=[{"file": "my_ipip.yaml"}], humans={"my_ipip": spec["humans"]["mini_ipip"]})
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")

    analyze_study(study)
    assert study.paths.similarity("my_ipip").exists()
    assert (tmp_path / "scores" / "my_ipip_llm.csv").exists() and (
        tmp_path / "scores" / "my_ipip_humans.csv"
    ).exists()
    names = {p.name for p in make_figures(study)}
    assert "fig5_removal.png" in names  # needs the file's item → dimension mapping
    doc = open_study(tmp_path)
    assert doc.instrument_names["my_ipip"] == "My IPIP copy"


def test_cli_humans_load_items_for_any_rating_instrument(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from valuesurvey.cli import app

    wide, _ = _wide_humans()
    wide.to_csv(tmp_path / "ipip.csv", index=False)
    runner = CliRunner()
    args = ["humans", "load", str(tmp_path / "ipip.csv"), "--instrument", "mini_ipip", "--items", "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "t.parquet")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "t.parquet")) == len(wide) * 20
    result = runner.invoke(app, ["humans", "load", str(tmp_path / "ipip.csv"), "--instrument", "mini_ipip"])
    assert result.exit_code == 1 and "add --items" in result.output
