"""Benchmark: the country-level analysis on the full-size SYNTHETIC WVS-7 file, vs straightforward pandas.

Builds the 64-country SYNTHETIC release (97,000 respondents × 600 variables; items coded -4 in
some countries, two countries below min_n), loads it with ``countries: all``, simulates 20 LLMs
(10 CN, 10 US) × 2 languages × 3 personas × 20 repetitions, then times, each in a fresh child
process (so that its peak resident memory is the analysis's own):

- the whole country table (``country_level`` + the R association): mean cosines of 97,000
  people × 120 LLM conditions (11.6 million pairs, 10.8 million of them cosines of people complete on
  the items asked in their country and not in a country below min_n) with 1,000 resamples per country, per-item
  W1 and Jensen–Shannon distances with intervals, cultural distances, the mixed models;
- the same with RQ3's 20 removal levels (233 million cosines);
- a straightforward pandas implementation of the same table (long tables, groupby z-scores,
  merge on item, groupby sums, a loop over resamples, SciPy per distance), run on a sample of
  countries and resamples and extrapolated linearly in people and in resamples (its cost is linear
  in both); its estimates are compared with ours on the sample (same resampling counts).

    python benchmarks/countries.py [--rows 97000] [--columns 600] [--bootstrap 1000]
                                   [--sample-countries USA,ARG,JOR] [--sample-bootstrap 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

ITEMS = [f"Q{q}" for q in range(177, 196)]
TARGETS = {"speed-up": 20.0, "peak GiB": 4.0, "seconds": 60.0}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> str:
    one, five, _ = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {one} (1 min), {five} (5 min) on {os.cpu_count()} cores"


def simulated_ratings(n_models: int, repetitions: int, seed: int = 5) -> pd.DataFrame:
    """SIMULATED llm_ratings: models mixing the Chinese and US reference means (text mode)."""
    from valuesurvey.humans.synthetic import _reference
    from valuesurvey.simulation.ratings import SimulatedLLM, simulate_llm_ratings

    reference = _reference("wvs7_q177_q195_chn_usa_means.csv").set_index("item").loc[ITEMS]
    profiles = {"CN": reference["chn_mean"].to_numpy(), "US": reference["usa_mean"].to_numpy()}
    rng = np.random.default_rng(seed)
    models = [
        SimulatedLLM(
            f"sim-{o.lower()}-{i:02d}",
            o,
            float(rng.uniform(0.5, 0.9) if o == "CN" else rng.uniform(0.0, 0.4)),
        )
        for o in ("CN", "US")
        for i in range(n_models // 2)
    ]
    return simulate_llm_ratings(
        profiles, ITEMS, models, instrument="wvs7", repetitions=repetitions, scale=(1, 10), seed=seed
    )


# ---- ours, in a child process ------------------------------------------------------------------


def _ours(humans_path: str, ratings_path: str, n_boot: int, removals: bool, associate: bool, out) -> None:
    from valuesurvey.country_level import CountryLevelConfig, country_level, fit_associations

    humans, ratings = pd.read_parquet(humans_path), pd.read_parquet(ratings_path)
    levels = {"none": (), **{item: (item,) for item in ITEMS}}
    config = CountryLevelConfig(n_boot=n_boot, removals=removals, weights=True)
    started = time.perf_counter()
    tables = country_level(
        humans, ratings, instrument="wvs7", items=ITEMS, scale=(1, 10), removals=levels, config=config
    )
    table_s = time.perf_counter() - started
    r_s = 0.0
    if associate:
        started = time.perf_counter()
        tables = fit_associations(tables)
        r_s = time.perf_counter() - started
    n_cosines = int((tables.similarity["n"]).sum())
    estimated = int((tables.coverage["status"] == "analysed").sum())
    out.put({"table_s": table_s, "r_s": r_s, "peak_mb": _peak_rss_mb(), "cosines": n_cosines,
             "countries": estimated, "rows": {k: len(v) for k, v in tables.frames().items()}})  # fmt: skip


def run_child(*args) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_ours, args=(*args, out))
    child.start()
    result = out.get()
    child.join()
    return result


# ---- the straightforward pandas implementation --------------------------------------------------


def _z_long(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    grouped = frame.groupby(keys)[value]
    return frame.assign(z=(frame[value] - grouped.transform("mean")) / grouped.transform("std"))


def naive_country(people: pd.DataFrame, llm: pd.DataFrame, llm_dist: pd.DataFrame, counts_cos, counts_all):
    """One country the straightforward way. ``people``: long participant, item, rating, weight (the
    country's respondents); ``llm``: long condition, item, mean; ``llm_dist``: condition, item,
    rating, p. Returns point estimates and resampled values (with the given resampling counts)."""
    asked = people.groupby("item")["rating"].apply(lambda s: s.notna().any())
    asked = asked[asked].index
    people = people[people["item"].isin(asked)]
    complete = people.groupby("participant")["rating"].apply(lambda s: s.notna().all())
    usable = people[people["participant"].isin(complete[complete].index)]
    usable = _z_long(usable, ["participant"], "rating").dropna(subset=["z"])
    llm_z = _z_long(llm[llm["item"].isin(asked)], ["condition"], "mean")
    pairs = usable.merge(llm_z[["condition", "item", "z"]], on="item", suffixes=("", "_llm"))
    pairs["xy"], pairs["xx"], pairs["yy"] = pairs["z"] * pairs["z_llm"], pairs["z"] ** 2, pairs["z_llm"] ** 2
    sums = pairs.groupby(["participant", "condition"])[["xy", "xx", "yy"]].sum()
    cos = (sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])).rename("cosine").reset_index()
    weights = usable.groupby("participant", sort=False)["weight"].first()
    cos = cos.merge(weights.rename("w").reset_index(), on="participant")
    mean = cos.groupby("condition").apply(lambda g: (g["w"] * g["cosine"]).sum() / g["w"].sum())
    order = list(weights.index)  # usable people, in the order the counts refer to
    replicates = []
    for row in counts_cos:
        drawn = pd.DataFrame({"participant": order, "k": row})
        r = cos.merge(drawn, on="participant")
        replicates.append(
            r.groupby("condition").apply(
                lambda g: (g["k"] * g["w"] * g["cosine"]).sum() / (g["k"] * g["w"]).sum()
            )
        )
    everyone = list(people["participant"].unique())

    def distribution(k: np.ndarray | None) -> pd.DataFrame:
        frame = people.dropna(subset=["rating"])
        if k is not None:
            frame = frame.merge(pd.DataFrame({"participant": everyone, "k": k}), on="participant")
            frame = frame.assign(weight=frame["weight"] * frame["k"])
        table = frame.groupby(["item", "rating"])["weight"].sum().unstack(fill_value=0.0)
        table = table.reindex(columns=np.arange(1.0, 11.0), fill_value=0.0)
        return table.div(table.sum(axis=1), axis=0)

    def distances(human: pd.DataFrame) -> dict:
        out = {}
        points = np.arange(1.0, 11.0)
        for (condition, item), group in llm_dist[llm_dist["item"].isin(asked)].groupby(["condition", "item"]):
            q = group.set_index("rating")["p"].reindex(points, fill_value=0.0).to_numpy()
            h = human.loc[item].to_numpy()
            out[(condition, item, "wasserstein")] = wasserstein_distance(points, points, h, q) / 9
            out[(condition, item, "jensen_shannon")] = jensenshannon(h, q, base=2)
        return out

    point_dist = distances(distribution(None))
    replicate_dist = [distances(distribution(row)) for row in counts_all]
    return mean, pd.DataFrame(replicates), pd.Series(point_dist), pd.DataFrame(replicate_dist)


def naive_sample(humans: pd.DataFrame, ratings: pd.DataFrame, countries: list[str], n_boot: int, seed: int):
    """The straightforward table for ``countries`` with ``n_boot`` resamples; (seconds, estimates)."""
    from valuesurvey.country_level import respondents_by_country
    from valuesurvey.country_level._compute import bootstrap_counts, child_seed, country_seed

    started = time.perf_counter()
    ok = ratings[ratings["status"] == "ok"]
    ok = ok.assign(condition=ok["model"] + "|" + ok["language"] + "/" + ok["persona"])
    llm = (
        ok.groupby(["condition", "item"], as_index=False)["rating"].mean().rename(columns={"rating": "mean"})
    )
    dist = ok.groupby(["condition", "item"])["rating"].value_counts(normalize=True).rename("p").reset_index()
    results = {}
    # only the resampling counts come from our code, so that the two give the same replicates
    people = respondents_by_country(humans, ITEMS, (1, 10))
    for country in countries:
        resp = people[country]
        x = resp.ratings
        asked = ~np.isnan(x).all(axis=0)
        complete = ~np.isnan(x[:, asked]).any(axis=1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # incomplete rows are all NaN here
            varies = np.nanstd(np.where(complete[:, None], x[:, asked], np.nan), axis=1) > 0
        n_usable = int((complete & varies).sum())
        base = country_seed(seed, "wvs7", country)
        counts_cos = bootstrap_counts(n_usable, n_boot, child_seed(base, 0))
        counts_all = bootstrap_counts(resp.n, n_boot, child_seed(base, 1))
        long = humans[humans["nationality"] == country]
        results[country] = naive_country(long, llm, dist, counts_cos, counts_all)
    return time.perf_counter() - started, results


def compare(humans: pd.DataFrame, ratings: pd.DataFrame, countries: list[str], n_boot: int, naive) -> dict:
    """Largest differences between our estimates and the straightforward ones on the sample."""
    from valuesurvey.country_level import CountryLevelConfig, country_level

    ours = country_level(
        humans[humans["nationality"].isin(countries)], ratings, instrument="wvs7", items=ITEMS, scale=(1, 10),
        config=CountryLevelConfig(n_boot=n_boot, weights=True, countries=tuple(countries), min_n=2),
    )  # fmt: skip
    sim = ours.similarity.assign(key=ours.similarity["model"] + "|" + ours.similarity["condition"])
    dist = ours.distributions.assign(key=ours.distributions["model"] + "|" + ours.distributions["condition"])
    diffs = {"mean cosine": 0.0, "cosine CI": 0.0, "W1 and JS": 0.0, "W1 and JS CI": 0.0}
    for country, (mean, replicates, point_dist, replicate_dist) in naive.items():
        mine = sim[sim["country"] == country].set_index("key")
        diffs["mean cosine"] = max(
            diffs["mean cosine"], float((mine["estimate"] - mean.reindex(mine.index)).abs().max())
        )
        low, high = np.quantile(replicates[mine.index].to_numpy(), (0.025, 0.975), axis=0)
        diffs["cosine CI"] = max(diffs["cosine CI"], float(np.abs(mine["conf_low"].to_numpy() - low).max()),
                                 float(np.abs(mine["conf_high"].to_numpy() - high).max()))  # fmt: skip
        per_item = dist[(dist["country"] == country) & (dist["item"] != "all")]
        keys = list(zip(per_item["key"], per_item["item"], per_item["metric"], strict=True))
        diffs["W1 and JS"] = max(
            diffs["W1 and JS"],
            float(np.abs(per_item["estimate"].to_numpy() - point_dist.loc[keys].to_numpy()).max()),
        )
        from valuesurvey.country_level._compute import bc_interval

        ci = bc_interval(replicate_dist[keys].to_numpy(), point_dist.loc[keys].to_numpy())
        diffs["W1 and JS CI"] = max(
            diffs["W1 and JS CI"], float(np.abs(per_item["conf_low"].to_numpy() - ci[0]).max())
        )
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=97_000)
    parser.add_argument("--columns", type=int, default=600)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--sample-countries", default="USA,ARG,JOR")
    parser.add_argument("--sample-bootstrap", type=int, default=10)
    parser.add_argument("--skip-removals", action="store_true", help="do not time the 20 removal levels")
    args = parser.parse_args()

    from valuesurvey.countries import parse_countries
    from valuesurvey.humans import load_wvs7
    from valuesurvey.humans.synthetic import write_release_size_sav

    print(_load())
    with tempfile.TemporaryDirectory(prefix="valuesurvey-bench-") as tmp:
        sav = Path(tmp) / "SYNTHETIC_wvs7_release_size_64_countries.sav"
        started = time.perf_counter()
        write_release_size_sav(sav, n_rows=args.rows, n_columns=args.columns)
        print(
            f"built {sav.name}: {args.rows:,} × {args.columns}, {sav.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        data = load_wvs7(sav, "all")
        humans = data.table
        print(
            f"loaded with countries: all in {time.perf_counter() - started:.1f} s: {len(data.respondents):,} respondents, {len(data.report.countries)} countries"
        )
        ratings = simulated_ratings(args.models, args.repetitions)
        n_conditions = ratings[["model", "language", "persona"]].drop_duplicates().shape[0]
        humans_path, ratings_path = Path(tmp) / "humans.parquet", Path(tmp) / "ratings.parquet"
        humans.to_parquet(humans_path, index=False)
        ratings.to_parquet(ratings_path, index=False)
        print(
            f"SIMULATED LLM ratings: {args.models} models × {n_conditions // args.models} conditions × {args.repetitions} repetitions ({len(ratings):,} rows)"
        )

        whole = run_child(str(humans_path), str(ratings_path), args.bootstrap, False, True)
        print(
            f"ours, the whole country table (B = {args.bootstrap}): {whole['table_s']:.1f} s + R association "
            f"{whole['r_s']:.1f} s = {whole['table_s'] + whole['r_s']:.1f} s; {whole['cosines']:,} person × condition "
            f"cosines ({whole['countries']} countries estimated; people complete on the items asked there); peak RSS {whole['peak_mb'] / 1024:.2f} GiB; rows: "
            + ", ".join(f"{k.removeprefix('countries_')} {v:,}" for k, v in whole["rows"].items())
        )
        if not args.skip_removals:
            levels = run_child(str(humans_path), str(ratings_path), args.bootstrap, True, False)
            print(
                f"ours, with RQ3's 20 removal levels: {levels['table_s']:.1f} s; {levels['cosines']:,} cosines "
                f"(none stored); peak RSS {levels['peak_mb'] / 1024:.2f} GiB"
            )

        sample = [c.alpha2 for c in parse_countries(args.sample_countries)]
        humans_w = humans  # W_WEIGHT, as in ours: both weight people
        started = time.perf_counter()
        _, _ = naive_sample(humans_w, ratings, sample, 0, seed=20251123)
        t_point = time.perf_counter() - started
        t_sample, naive = naive_sample(humans_w, ratings, sample, args.sample_bootstrap, seed=20251123)
        t_per_resample = max(t_sample - t_point, 0.0) / args.sample_bootstrap
        n_sample = int(humans_w[humans_w["nationality"].isin(sample)]["participant"].nunique())
        # Its cosines cost in proportion to people, its distances to countries (conditions × items
        # per resample): extrapolate by the smaller of the two ratios.
        estimated = whole["countries"]
        scale = min(len(data.respondents) / n_sample, estimated / len(sample))
        t_naive = (t_point + args.bootstrap * t_per_resample) * scale
        print(
            f"pandas, straightforward: {t_point:.1f} s for the estimates of {len(sample)} countries "
            f"({n_sample:,} people) + {t_per_resample:.2f} s per resample; extrapolated ×{scale:.1f} (to "
            f"{estimated} countries, {len(data.respondents):,} people) and to B = {args.bootstrap}: "
            f"{t_naive:,.0f} s ({t_naive / 3600:.1f} h)"
        )
        diffs = compare(humans_w, ratings, sample, args.sample_bootstrap, naive)
        print("max |ours - pandas| on the sample: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))

    ours_s = whole["table_s"] + whole["r_s"]
    print(
        f"speed-up: {t_naive / ours_s:,.0f}x (target >= {TARGETS['speed-up']:.0f}x); peak memory "
        f"{whole['peak_mb'] / 1024:.2f} GiB (target < {TARGETS['peak GiB']:.0f} GiB); whole table {ours_s:.1f} s "
        f"(target < {TARGETS['seconds']:.0f} s)"
    )
    print(_load())


if __name__ == "__main__":
    main()
