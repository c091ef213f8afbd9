"""A small but complete, contract-shaped study directory with deterministic fake data.

The figures and report are developed against this while the stages that write these tables are
being built; every table has exactly the contract's columns (study.py, DESIGN.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from valuesurvey._io import write_csv, write_json, write_parquet
from valuesurvey.ranking import analyze_rankings, instrument_values, write_results
from valuesurvey.simulation.rankings import simulate_rankings
from valuesurvey.study import load_study

MODELS = [
    ("sim-qwen", "CN", "SIMULATED"),
    ("sim-deepseek", "CN", "SIMULATED"),
    ("sim-glm", "CN", "SIMULATED"),
    ("sim-gpt", "US", "SIMULATED"),
    ("sim-claude", "US", "SIMULATED"),
    ("sim-llama", "US", "SIMULATED"),
]
LANGUAGES = ("en", "zh")
PERSONAS = ("none", "cn", "us")
REPS = 3
#: Bootstrap resamples of the ranking analysis: small, so the fixture stays fast.
RANKING_BOOT = 20
N_PER_COUNTRY = 25
FOUNDATIONS = ("Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity")
MFQ_ITEMS = [f"mfq2_{k:02d}" for k in range(1, 37)]
WVS_ITEMS = [f"Q{k}" for k in range(177, 196)]
SCALES = {"mfq2": (1, 5), "wvs7": (1, 10)}

#: Analyses written to estimates/, each with its terms exactly as R names them (R/rq_models.R:
#: half-sum coded factors get the positive level appended, treatment-coded ``removed`` its level).
RQ1_TERMS = ["(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"]
RQ2_TERMS = [
    "(Intercept)",
    "language_congruentyes",
    "persona_congruentyes",
    "origin_congruentyes",
    "language_congruentyes:persona_congruentyes",
    "language_congruentyes:origin_congruentyes",
    "persona_congruentyes:origin_congruentyes",
    "language_congruentyes:persona_congruentyes:origin_congruentyes",
]


def _items(instrument: str) -> list[str]:
    return MFQ_ITEMS if instrument == "mfq2" else WVS_ITEMS


def _dimension(instrument: str, item: str) -> str:
    return FOUNDATIONS[(int(item.split("_")[1]) - 1) % 6] if instrument == "mfq2" else item


def _humans(rng: np.random.Generator, instrument: str) -> pd.DataFrame:
    low, high = SCALES[instrument]
    items = _items(instrument)
    base = {n: rng.uniform(low + 0.5, high - 0.5, len(items)) for n in ("CN", "US")}
    rows = []
    for nat in ("CN", "US"):
        for p in range(N_PER_COUNTRY):
            ratings = np.clip(np.round(base[nat] + rng.normal(0, 1.0, len(items))), low, high)
            for item, rating in zip(items, ratings, strict=True):
                rows.append((f"{nat}{p:03d}", nat, item, float(rating), 1.0))
    return pd.DataFrame(rows, columns=["participant", "nationality", "item", "rating", "weight"])


def _llm_ratings(rng: np.random.Generator, instruments: list[str]) -> pd.DataFrame:
    rows = []
    for instrument in instruments:
        low, high = SCALES[instrument]
        items = _items(instrument)
        shared = rng.uniform(low, high, len(items))
        for model, origin, company in MODELS:
            profile = shared + rng.normal(0, 0.6, len(items))
            for lang in LANGUAGES:
                for persona in PERSONAS:
                    for rep in range(REPS):
                        values = np.clip(np.round(profile + rng.normal(0, 0.5, len(items))), low, high)
                        for item, value in zip(items, values, strict=True):
                            refused = model == "sim-gpt" and item in ("Q184", "Q182") and persona == "none"
                            status = "refusal" if refused else "ok"
                            rating = np.nan if refused else float(value)
                            rows.append(
                                (model, origin, company, instrument, lang, persona, rep, item, rating, status)
                            )
    columns = [
        "model",
        "origin",
        "company",
        "instrument",
        "language",
        "persona",
        "rep",
        "item",
        "rating",
        "status",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["answer_mode"] = "text"
    return frame


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def _z(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=1, keepdims=True)) / matrix.std(axis=1, ddof=1, keepdims=True)


def _similarity(humans: pd.DataFrame, ratings: pd.DataFrame, instrument: str) -> pd.DataFrame:
    """Real cosines of z-scored vectors (so the figures show a coherent picture)."""
    items = _items(instrument)
    person = humans.pivot_table(index=["participant", "nationality"], columns="item", values="rating")[items]
    pz = _z(person.to_numpy())
    llm = ratings[(ratings["instrument"] == instrument) & (ratings["status"] == "ok")]
    means = llm.groupby(["model", "origin", "language", "persona", "item"])["rating"].mean().unstack("item")
    means = means.reindex(columns=items).fillna(means.mean(axis=None))
    removals = {"none": []}
    if instrument == "mfq2":
        removals |= {f: [i for i in items if _dimension(instrument, i) == f] for f in FOUNDATIONS}
    else:
        removals |= {i: [i] for i in items}
    frames = []
    for (model, origin, lang, persona), row in means.iterrows():
        for removed, drop in removals.items():
            if removed != "none" and persona != "none":
                continue
            keep = [k for k, i in enumerate(items) if i not in drop]
            lz = _z(row.to_numpy()[keep][None, :])
            cos = _cosine(_z(person.to_numpy()[:, keep]) if drop else pz, np.repeat(lz, len(pz), axis=0))
            frames.append(
                pd.DataFrame(
                    {
                        "participant": person.index.get_level_values(0),
                        "nationality": person.index.get_level_values(1),
                        "model": model,
                        "origin": origin,
                        "language": lang,
                        "persona": persona,
                        "removed": removed,
                        "cosine": cos,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _rankings(seed: int) -> pd.DataFrame:
    """Simulated rankings (planted clusters, some invalid attempts, one model never valid), with
    the first three models of each origin renamed to the fixture's models."""
    sim = simulate_rankings(
        n_cn=4,
        n_us=4,
        n_clusters=3,
        repetitions=REPS,
        languages=LANGUAGES,
        invalid_rate=0.1,
        max_retries=1,
        zero_valid_models=1,
        seed=seed,
    )
    names = {}
    for origin in ("CN", "US"):
        ours = [m for m, o, _ in MODELS if o == origin]
        theirs = sim.models.loc[sim.models["origin"] == origin, "model"].tolist()
        names.update(zip(theirs, ours, strict=False))
    data = sim.data.copy()
    data["model"] = data["model"].replace(names)
    data["company"] = "SIMULATED"
    return data


def _ranking_estimates(study_yaml: Path) -> None:
    """The real ranking analysis (small bootstrap, R mixed models) writes estimates/ranking_*.csv."""
    study = load_study(study_yaml)
    frame = pd.read_parquet(study.paths.rankings)
    results = analyze_rankings(frame, instrument_values(), n_boot=RANKING_BOOT, seed=1, k_max=5)
    write_results(study, results)


def _estimates(
    rng: np.random.Generator, analysis: str, terms: list[str], fits=("lm", "lmer")
) -> pd.DataFrame:
    rows = []
    for fit in fits:
        for term in terms:
            estimate = (
                round(float(rng.normal(0, 0.1)), 4)
                if term != "(Intercept)"
                else round(float(rng.uniform(0.2, 0.45)), 4)
            )
            se = round(float(rng.uniform(0.001, 0.01)) * (4 if fit == "lmer" else 1), 5)
            df = 1e4 if fit == "lm" else round(float(rng.uniform(4, 40)), 2)
            statistic = estimate / se
            p = float(2 * (1 - _normal_cdf(abs(statistic))))
            rows.append(
                (
                    analysis,
                    fit,
                    term,
                    estimate,
                    se,
                    df,
                    statistic,
                    p,
                    estimate - 1.96 * se,
                    estimate + 1.96 * se,
                    "OLS" if fit == "lm" else "REML, Satterthwaite df",
                )
            )
    columns = [
        "analysis",
        "model",
        "term",
        "estimate",
        "std_error",
        "df",
        "statistic",
        "p_value",
        "conf_low",
        "conf_high",
        "method",
    ]
    return pd.DataFrame(rows, columns=columns)


EXCLUSION_COLUMNS = [
    "instrument", "analysis", "kind", "model", "origin", "language", "persona", "item", "reason",
    "n_reps", "n_refusal", "n_invalid", "n_error", "participant", "nationality", "n_missing",
]  # fmt: skip


def _exclusions() -> list[tuple]:
    """Rows as the analysis stage writes them: one refusing LLM, three incomplete participants."""
    nan = float("nan")
    llm = (
        "wvs7",
        "rq1",
        "llm",
        "sim-gpt",
        "US",
        "en",
        "none",
        "Q182",
        "all_refused",
        3,
        3,
        0,
        0,
        nan,
        nan,
        nan,
    )
    people = [
        (
            "wvs7",
            "all",
            "person",
            nan,
            nan,
            nan,
            nan,
            nan,
            "incomplete_ratings",
            nan,
            nan,
            nan,
            nan,
            pid,
            nat,
            3,
        )
        for pid, nat in (("CN999", "CN"), ("US998", "US"), ("US999", "US"))
    ]
    return [llm, *people]


def _normal_cdf(x: float) -> float:
    from math import erf, sqrt

    return 0.5 * (1 + erf(x / sqrt(2)))


def _rq3_terms(instrument: str) -> list[str]:
    levels = FOUNDATIONS if instrument == "mfq2" else WVS_ITEMS
    terms = ["(Intercept)", "nationalityCN", "originCN", *(f"removed{level}" for level in levels)]
    terms.append("nationalityCN:originCN")
    terms += [f"nationalityCN:removed{level}" for level in levels]
    terms += [f"originCN:removed{level}" for level in levels]
    terms += [f"nationalityCN:originCN:removed{level}" for level in levels]
    return terms  # R's order: main effects, then two-way, then three-way interactions


def _coding(instrument: str) -> pd.DataFrame:
    """``estimates/coding.csv`` rows as the analysis stage writes them (one per level × contrast)."""
    rows = []
    for analysis in ("rq1", "rq3"):
        for variable in ("nationality", "origin"):
            rows += [
                (f"{analysis}_{instrument}", variable, "half_sum", lv, "CN", v)
                for lv, v in (("CN", 0.5), ("US", -0.5))
            ]
    for variable in ("language_congruent", "persona_congruent", "origin_congruent"):
        rows += [
            (f"rq2_{instrument}", variable, "half_sum", lv, "yes", v)
            for lv, v in (("no", -0.5), ("yes", 0.5))
        ]
    levels = FOUNDATIONS if instrument == "mfq2" else WVS_ITEMS
    for contrast in levels:
        for level in ("none", *levels):
            rows.append(
                (f"rq3_{instrument}", "removed", "treatment", level, contrast, float(level == contrast))
            )
    return pd.DataFrame(rows, columns=["analysis", "variable", "scheme", "level", "contrast", "value"])


def _country_level(study_yaml: Path, rating: list[str]) -> None:
    """``estimates/countries_*.csv`` computed by the real country level from the fixture's tables
    (two countries: no slope, so no R)."""
    from valuesurvey.country_level import (
        CountryLevelConfig,
        CountryTables,
        country_level,
        fit_associations,
        write_country_tables,
    )

    study = load_study(study_yaml)
    ratings = pd.read_parquet(study.paths.llm_ratings)
    parts = [
        country_level(
            pd.read_parquet(study.paths.humans(instrument)),
            ratings,
            instrument=instrument,
            items=_items(instrument),
            scale=SCALES[instrument],
            config=CountryLevelConfig.from_study(study, instrument),
        )
        for instrument in rating
    ]
    write_country_tables(study, fit_associations(CountryTables.concat(parts)))


def write_fixture_study(
    root: Path, *, instruments: tuple[str, ...] = ("mfq2", "wvs7", "ai_values"), seed: int = 7
) -> Path:
    """Write ``root/study.yaml`` and every table of an analysed study; return the study.yaml path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rating = [i for i in instruments if i != "ai_values"]
    study = {
        "name": "fixture",
        "title": "Fixture study (simulated)",
        "instruments": list(instruments),
        "languages": list(LANGUAGES),
        "personas": list(PERSONAS),
        "repetitions": REPS,
        "models": [{"id": m, "provider": "simulated", "origin": o, "company": c} for m, o, c in MODELS],
        "humans": {i: {"path": f"raw/{i}.sav", "synthetic": True} for i in rating},
        "ranking": {"repetitions": REPS},
        # the country level (issue 17) on the fixture's two countries, so the report has its section
        "analysis": {"countries": "all", "country_level": {"min_n": 20, "bootstrap": 100}},
        "synthetic_note": "SIMULATED DATA: fixture study for tests",
    }
    (root / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    ratings = _llm_ratings(rng, rating)
    if rating:
        write_parquet(root / "llm_ratings.parquet", ratings)
    exclusions = []
    if rating:
        coding = pd.concat([_coding(i) for i in rating], ignore_index=True)
        write_csv(root / "estimates" / "coding.csv", coding)
    for instrument in rating:
        humans = _humans(rng, instrument)
        write_parquet(root / "humans" / f"{instrument}.parquet", humans)
        write_parquet(root / "similarity" / f"{instrument}.parquet", _similarity(humans, ratings, instrument))
        write_csv(
            root / "estimates" / f"rq1_{instrument}.csv", _estimates(rng, f"rq1_{instrument}", RQ1_TERMS)
        )
        write_csv(
            root / "estimates" / f"rq2_{instrument}.csv", _estimates(rng, f"rq2_{instrument}", RQ2_TERMS)
        )
        write_csv(
            root / "estimates" / f"rq3_{instrument}.csv",
            _estimates(rng, f"rq3_{instrument}", _rq3_terms(instrument)),
        )
        if instrument == "wvs7":
            exclusions += _exclusions()
    write_csv(root / "similarity" / "exclusions.csv", pd.DataFrame(exclusions, columns=EXCLUSION_COLUMNS))
    if rating:
        _country_level(root / "study.yaml", rating)
    if "ai_values" in instruments:
        write_parquet(root / "rankings.parquet", _rankings(seed))
        _ranking_estimates(root / "study.yaml")
    write_json(
        root / "manifest.json",
        {
            "package": {"name": "valuesurvey", "version": "0.1.0"},
            "versions": {"python": "3.11", "R": "4.2.2", "lme4": "1.1-31", "lmerTest": "3.1-3"},
            "instruments": {i: {"version": "1", "content_hash": f"sha256:{i}fixture"} for i in instruments},
            "stages": {"analyze": {"seconds": 1.5, "outputs": {"estimates/rq1_mfq2.csv": "sha256:abc"}}},
        },
    )
    return root / "study.yaml"


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
