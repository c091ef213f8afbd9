"""`valuesurvey analyze` at the paper's real WVS size: wall time and peak memory of the recommended models.

    python benchmarks/analyze_size.py [--people 5212] [--models 21] [--no-reference] [--keep DIR]

Builds a study directory from SYNTHETIC data of the paper's size — 5,212 complete, z-scorable WVS-7
respondents (drawn from the shipped synthetic release, China and the USA in its proportions), 21
simulated LLMs (11 made in China, 10 in the USA) × 2 languages × 3 personas × 20 repetitions — and
runs the whole analysis stage in this process (R runs inside it through rpy2, so the peak resident
memory covers both): similarity at every removal level (13.1 million cosines), the exclusion rule,
lm, the recommended mixed models with their simplification records (RQ3: 20 removal levels, each
on within-pair differences), the two-stage checks and the simple effects.

Side by side, on the same data: lme4::lmer + lmerTest (Rscript) fitting the recommended RQ1
structure directly, against our exact complete-crossing fit of it (fit_info seconds).
Targets: analyze < 600 s and < 8 GiB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from valuesurvey import _io

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 600.0
TARGET_GIB = 8.0


def _humans(n_people: int, seed: int = 5) -> pd.DataFrame:
    from valuesurvey.humans.synthetic import shipped_files
    from valuesurvey.humans.wvs import load_wvs7

    table = load_wvs7(shipped_files()["wvs7_sav"]).table
    wide = table.pivot(index=["participant", "nationality"], columns="item", values="rating")
    usable = wide[wide.notna().all(axis=1) & (wide.std(axis=1) > 0)]
    rng = np.random.default_rng(seed)
    share = usable.index.get_level_values("nationality").value_counts(normalize=True)
    keep = []
    for nationality, frac in share.items():
        ids = usable.index[usable.index.get_level_values("nationality") == nationality]
        count = round(n_people * frac) if nationality == "CN" else n_people - len(keep)
        keep += list(ids[rng.choice(len(ids), size=min(count, len(ids)), replace=False)])
    chosen = {participant for participant, _ in keep}
    return table[table["participant"].isin(chosen)].reset_index(drop=True)


def _ratings(humans: pd.DataFrame, n_models: int, seed: int = 11) -> pd.DataFrame:
    from valuesurvey.simulation.ratings import SimulatedLLM, simulate_llm_ratings

    items = [f"Q{q}" for q in range(177, 196)]
    means = humans.groupby(["nationality", "item"])["rating"].mean().unstack().reindex(columns=items)
    profiles = {n: means.loc[n].to_numpy() for n in ("CN", "US")}
    n_cn = n_models - n_models // 2
    models = [
        SimulatedLLM(f"sim-{o.lower()}-{i:02d}", o, (0.7 if o == "CN" else 0.25) + 0.02 * i)
        for o, count in (("CN", n_cn), ("US", n_models - n_cn))
        for i in range(count)
    ]
    return simulate_llm_ratings(
        profiles, items, models, instrument="wvs7", repetitions=20, scale=(1, 10), seed=seed
    )


def _study(root: Path, n_people: int, n_models: int) -> Path:
    humans = _humans(n_people)
    ratings = _ratings(humans, n_models)
    _io.write_parquet(root / "humans" / "wvs7.parquet", humans)
    _io.write_parquet(root / "llm_ratings.parquet", ratings)
    models = ratings.drop_duplicates("model")[["model", "origin"]]
    spec = {
        "name": "analyze-size",
        "instruments": ["wvs7"],
        "repetitions": 20,
        "models": [
            {"id": m, "provider": "simulated", "origin": o} for m, o in models.itertuples(index=False)
        ],
        "synthetic_note": "SYNTHETIC humans, SIMULATED LLMs: benchmark",
    }
    (root / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return root / "study.yaml"


REFERENCE_R = r"""
suppressPackageStartupMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
d <- data.table::fread(args[1], data.table = FALSE)
d <- d[d$in_rq1 == 1, ]
half <- function(x) { f <- factor(x); contrasts(f) <- matrix(ifelse(levels(f) == "CN", .5, -.5), ncol = 1,
  dimnames = list(levels(f), "CN")); f }
d$nationalityCN <- ifelse(d$nationality == "CN", .5, -.5); d$originCN <- ifelse(d$origin == "CN", .5, -.5)
d$nationality <- half(d$nationality); d$origin <- half(d$origin)
started <- proc.time()[["elapsed"]]
fit <- lmer(as.formula(args[2]), data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
co <- summary(fit, ddf = "Satterthwaite")$coefficients
cat(proc.time()[["elapsed"]] - started, co["nationalityCN:originCN", "Std. Error"], "\n")
"""


def _reference(study_dir: Path) -> tuple[float, float, float, float] | None:
    info = pd.read_csv(study_dir / "estimates" / "fit_info.csv")
    ours = info[(info["analysis"] == "rq1_wvs7") & (info["model"] == "lmer")].iloc[0]
    tidy = pd.read_csv(study_dir / "estimates" / "rq1_wvs7.csv")
    ours_se = tidy[(tidy["model"] == "lmer") & (tidy["term"] == "nationalityCN:originCN")]["std_error"].iloc[
        0
    ]
    script = study_dir / "reference.R"
    script.write_text(REFERENCE_R)
    run = subprocess.run(
        ["Rscript", str(script), str(study_dir / "similarity" / "wvs7_rq.csv"), str(ours["formula"])],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        print(f"reference failed: {run.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    seconds, se = (float(v) for v in run.stdout.split())
    return float(ours["seconds"]), seconds, float(ours_se), se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5212)
    parser.add_argument("--models", type=int, default=21)
    parser.add_argument("--no-reference", action="store_true", help="skip the lme4/lmerTest fit of RQ1")
    parser.add_argument("--keep", type=Path, help="build the study here and keep it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    logging.getLogger("valuesurvey.ranking").setLevel(logging.WARNING)
    from valuesurvey.analysis import analyze_study
    from valuesurvey.study import load_study

    holder = None if args.keep else tempfile.TemporaryDirectory(prefix="analyze-size-")
    root = args.keep or Path(holder.name)  # type: ignore[union-attr]
    root.mkdir(parents=True, exist_ok=True)
    study_yaml = _study(root, args.people, args.models)
    study = load_study(study_yaml)
    started = time.perf_counter()
    analyze_study(study)
    seconds = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    summary = pd.read_csv(study.paths.similarity_dir / "exclusions_summary.csv")
    sim_rows = len(pd.read_parquet(study.paths.similarity("wvs7"), columns=["cosine"]))
    print(
        f"design: {summary['n_people'].iloc[0]:,} people x {summary['n_models'].iloc[0]} LLMs, "
        f"{sim_rows:,} cosines; RQ3 {summary.loc[summary['analysis'] == 'rq3', 'n_rows'].iloc[0]:,} rows"
    )
    info = pd.read_csv(study.paths.estimates("fit_info"))
    for analysis, part in info[info["model"] == "lmer"].groupby("analysis", sort=False):
        finals = part["random_final"].value_counts()
        print(
            f"  {analysis}: {len(part)} mixed fit(s), {part['seconds'].sum():.1f} s; final: {finals.index[0]}"
        )
    if not args.no_reference:
        ref = _reference(root)
        if ref is not None:
            ours_s, theirs_s, ours_se, theirs_se = ref
            print(
                f"RQ1 recommended model, same data: lme4+lmerTest {theirs_s:.1f} s vs ours {ours_s:.1f} s "
                f"({theirs_s / ours_s:.0f}x); interaction SE {theirs_se:.6g} vs {ours_se:.6g}"
            )
    print(
        f"analyze: {seconds:.0f} s wall ({seconds / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:.0f} s target), "
        f"peak memory {peak_gib:.2f} GiB ({peak_gib / TARGET_GIB:.2f} of the {TARGET_GIB:.0f} GiB target)"
    )
    if holder is not None:
        holder.cleanup()


if __name__ == "__main__":
    main()
