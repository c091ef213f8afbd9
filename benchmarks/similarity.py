"""Benchmark: the whole WVS RQ3 similarity table, vectorized vs a straightforward pandas groupby.

5,000 people × 17 models × 6 conditions × 20 removal levels (none + each of 19 items) = 10.2 M
cosines. The baseline merges long z-scores on item and sums products per group, level by level,
for a sample of people (``--naive-people``), and is extrapolated linearly in people (it is linear:
every person's rows are independent); ``--naive-people 5000`` runs it in full.

    python benchmarks/similarity.py [--people 5000] [--naive-people 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from valuesurvey.similarity import LLM_KEYS, PERSON_KEYS, pair_similarity

ITEMS = [f"Q{q}" for q in range(177, 196)]


def make_inputs(n_people: int, n_models: int = 17, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        rng.integers(1, 11, (n_people, len(ITEMS))).astype(float),
        columns=ITEMS,
        index=pd.MultiIndex.from_arrays(
            [[f"P{i:05d}" for i in range(n_people)], np.where(np.arange(n_people) % 2, "CN", "US")],
            names=PERSON_KEYS,
        ),
    )
    conditions = [
        (f"m{m:02d}", "CN" if m % 2 else "US", lang, pers)
        for m in range(n_models)
        for lang in ("en", "zh")
        for pers in ("none", "cn", "us")
    ]
    llms = pd.DataFrame(
        rng.uniform(1, 10, (len(conditions), len(ITEMS))),
        columns=ITEMS,
        index=pd.MultiIndex.from_tuples(conditions, names=LLM_KEYS),
    )
    return people, llms


def naive(people: pd.DataFrame, llms: pd.DataFrame, removals: dict[str, list[str]]) -> pd.DataFrame:
    """The straightforward way: long tables, z-score per group, merge on item, groupby-sum."""
    p_long = people.rename_axis(columns="item").stack().rename("x").reset_index()
    l_long = llms.rename_axis(columns="item").stack().rename("y").reset_index()
    out = []
    for level, removed in removals.items():
        p = p_long[~p_long["item"].isin(removed)].copy()
        q = l_long[~l_long["item"].isin(removed)].copy()
        p["x"] = p.groupby("participant")["x"].transform(lambda s: (s - s.mean()) / s.std())
        q["y"] = q.groupby(list(LLM_KEYS))["y"].transform(lambda s: (s - s.mean()) / s.std())
        pairs = p.merge(q, on="item")
        pairs["xy"], pairs["xx"], pairs["yy"] = pairs["x"] * pairs["y"], pairs["x"] ** 2, pairs["y"] ** 2
        sums = pairs.groupby([*PERSON_KEYS, *LLM_KEYS], sort=False)[["xy", "xx", "yy"]].sum().reset_index()
        sums["cosine"] = sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])
        out.append(sums.drop(columns=["xy", "xx", "yy"]).assign(removed=level))
    return pd.concat(out, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--naive-people", type=int, default=500)
    args = parser.parse_args()
    people, llms = make_inputs(args.people)
    removals = {"none": [], **{item: [item] for item in ITEMS}}

    started = time.perf_counter()
    fast = pair_similarity(people, llms, removals=removals)
    t_fast = time.perf_counter() - started
    print(
        f"vectorized: {len(fast):,} cosines ({args.people} people × {len(llms)} LLM conditions × {len(removals)} levels) in {t_fast:.2f} s"
    )

    sample = people.iloc[: min(args.naive_people, args.people)]
    started = time.perf_counter()
    slow = naive(sample, llms, removals)
    t_sample = time.perf_counter() - started
    t_naive = t_sample * len(people) / len(sample)
    label = (
        "measured"
        if len(sample) == len(people)
        else f"extrapolated from {len(sample)} people ({t_sample:.2f} s)"
    )
    print(f"pandas groupby: {t_naive:.2f} s ({label})")

    check = fast[fast["participant"].isin(sample.index.get_level_values("participant"))]
    merged = check.astype({k: str for k in [*PERSON_KEYS, *LLM_KEYS, "removed"]}).merge(
        slow, on=[*PERSON_KEYS, *LLM_KEYS, "removed"], suffixes=("", "_naive")
    )
    assert len(merged) == len(slow), "the two implementations disagree on the rows"
    max_diff = float(np.max(np.abs(merged["cosine"] - merged["cosine_naive"])))
    print(f"max |difference| on the sample: {max_diff:.2e}")
    print(f"speed-up: {t_naive / t_fast:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
