"""k origin groups: the omnibus permutation tests against brute force and scipy; the ranking analysis
with k groups (pairs = the two-group tests, Holm families, other tables, R run directly)."""

from __future__ import annotations

import io
import itertools
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from valuesurvey.ranking import analyze_rankings, compare_origins
from valuesurvey.ranking._cluster import freeman_halton, freeman_halton_permutation
from valuesurvey.ranking._exact import group_permutation_pvalues, n_arrangements
from valuesurvey.ranking._mixed import fit_mixed_models
from valuesurvey.simulation.rankings import simulate_rankings


def _brute_force(x: np.ndarray, labels: np.ndarray, statistic) -> float:
    """Share of the permutations of the labels at least as extreme: each distinct arrangement of the
    n! permutations (every one the image of the same number of them) scored with scipy."""
    observed = statistic(x, labels)
    distinct = set(itertools.permutations(labels.tolist()))
    hits = sum(statistic(x, np.array(a)) >= observed - 1e-9 * abs(observed) for a in distinct)
    return hits / len(distinct)


def _h(x, labels):
    return stats.kruskal(*[x[labels == g] for g in np.unique(labels)]).statistic


def _f(x, labels):
    return stats.f_oneway(*[x[labels == g] for g in np.unique(labels)]).statistic


TINY = np.array([2.5, 1.0, 4.0, 2.5, 6.0, 5.0, 0.5])  # one tie
TINY_LABELS = np.array([0, 0, 1, 1, 1, 2, 2])


@pytest.mark.parametrize(("name", "statistic"), [("kruskal", _h), ("anova", _f)])
def test_exact_omnibus_equals_brute_force_over_every_permutation(name, statistic):
    result = group_permutation_pvalues(TINY, TINY_LABELS, statistic=name)
    assert result.exact and result.n_permutations == n_arrangements(np.bincount(TINY_LABELS)) == 210
    assert result.p_value[0] == pytest.approx(_brute_force(TINY, TINY_LABELS, statistic), abs=1e-12)


def test_monte_carlo_omnibus_is_near_the_exact_one_within_its_interval():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 3)) + np.repeat([0.0, 0.8, 1.6], 4)[:, None]
    labels = np.repeat([0, 1, 2], 4)
    exact = group_permutation_pvalues(x, labels, statistic="kruskal")  # 34,650 arrangements
    mc = group_permutation_pvalues(
        x, labels, statistic="kruskal", max_enumeration=100, n_draws=20_000, rng=np.random.default_rng(1)
    )
    assert exact.exact and not mc.exact and mc.n_permutations == 20_000
    assert np.all((mc.p_low <= exact.p_value) & (exact.p_value <= mc.p_high))
    assert "Monte Carlo" in mc.method


def test_kruskal_permutation_agrees_with_the_asymptotic_test_on_a_large_panel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=60) + np.repeat([0.0, 0.3, 0.6, 0.9], 15)
    labels = np.repeat([0, 1, 2, 3], 15)
    mc = group_permutation_pvalues(x, labels, statistic="kruskal", n_draws=20_000, rng=rng)
    asymptotic = stats.kruskal(*[x[labels == g] for g in range(4)]).pvalue
    assert mc.p_value[0] == pytest.approx(asymptotic, abs=0.02)


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="each present"):
        group_permutation_pvalues(TINY, np.array([0, 0, 2, 2, 2, 2, 2]))


def test_freeman_halton_permutation_equals_the_exact_r_by_2_test():
    rng = np.random.default_rng(8)
    clusters = rng.integers(1, 4, size=11)
    origins = np.where(rng.random(11) < 0.5, "CN", "US")
    p, how = freeman_halton_permutation(clusters, origins, ["CN", "US"])
    table = pd.crosstab(clusters, origins).reindex(columns=["CN", "US"], fill_value=0).to_numpy()
    assert how.startswith("exact") and p == pytest.approx(freeman_halton(table), abs=1e-12)


def test_freeman_halton_permutation_r_by_3_against_every_permutation():
    clusters = np.array([1, 1, 1, 2, 2, 3, 3, 3])
    origins = np.array(["CN", "CN", "US", "US", "TW", "TW", "TW", "CN"])
    p, _ = freeman_halton_permutation(clusters, origins, ["CN", "US", "TW"])

    codes = np.unique(origins, return_inverse=True)[1]

    def weight(o):  # sum of log n_ij!: larger = less probable table
        return sum(math.lgamma(v + 1) for v in np.bincount(clusters * 3 + o, minlength=12))

    observed = weight(codes)
    perms = itertools.permutations(range(8))  # 40,320
    brute = sum(weight(codes[list(q)]) >= observed - 1e-9 for q in perms) / math.factorial(8)
    assert p == pytest.approx(brute, abs=1e-12)


# --- the ranking analysis with k origin groups ------------------------------------------------------

GROUPS = ("CN", "SG", "TW", "US")  # the default design's order: CN, other countries, US (reference) last


@pytest.fixture(scope="module")
def four(values):
    """20 simulated models relabelled into four origin groups, one of origin none and one company."""
    sim = simulate_rankings(
        values=values, repetitions=4, cluster_strength=0.8, origin_shift={"Social": 3.0}, seed=11
    )
    models = sorted(sim.data["model"].unique())
    origins = ["CN"] * 4 + ["TW"] * 4 + ["none", "company:Acme"] + ["US"] * 5 + ["SG"] * 5
    data = sim.data.assign(origin=sim.data["model"].map(dict(zip(models, origins, strict=True))))
    return analyze_rankings(data, values, n_boot=10, seed=1, mixed=False, permutations=4_000)


def test_k_groups_get_omnibus_tests_equal_to_scipy_and_every_pair(four):
    tests = four.origin_tests
    assert list(tests.columns[-1:]) == ["p_asymptotic"] and "contrast" in tests
    scores = four.dimension_scores[four.dimension_scores["origin"].isin(GROUPS)]
    social = scores[scores["dimension"] == "Social"]
    samples = [social.loc[social["origin"] == g, "score"].to_numpy() for g in GROUPS]
    rows = tests[(tests["term"] == "Social") & (tests["contrast"] == "omnibus")].set_index("model")
    kw, f = stats.kruskal(*samples), stats.f_oneway(*samples)
    assert rows.loc["kruskal_wallis", "statistic"] == pytest.approx(kw.statistic, rel=1e-12)
    assert rows.loc["kruskal_wallis", "p_asymptotic"] == pytest.approx(kw.pvalue, rel=1e-12)
    assert rows.loc["anova_f", "statistic"] == pytest.approx(f.statistic, rel=1e-12)
    assert rows.loc["anova_f", "df"] == 3
    assert (
        rows["p_method"].str.startswith("Monte Carlo: 4,000 random arrangements").all()
    )  # 18 models: 771,891,120 arrangements
    pairs = set(tests.loc[tests["contrast"] != "omnibus", "contrast"])
    assert pairs == {f"{a} - {b}" for a, b in itertools.combinations(GROUPS, 2)}
    # The none and company models are in no group: 18 models in the tests.
    assert rows[["n_cn", "n_sg", "n_tw", "n_us"]].sum(axis=1).eq(18).all()


def test_k_group_pairs_are_the_two_group_tests_with_holm_over_terms_and_pairs(four):
    tests = four.origin_tests
    means = four.dimension_scores
    two = compare_origins(
        means, level="dimension", term_column="dimension", score_column="score", groups=("SG", "TW")
    )
    ours = tests[(tests["level"] == "dimension") & (tests["contrast"] == "SG - TW")].reset_index(drop=True)
    columns = ["model", "term", "estimate", "statistic", "df", "p_value", "effect_size", "n_sg", "n_tw"]
    pd.testing.assert_frame_equal(ours[columns], two[columns])
    family = tests[(tests["level"] == "dimension") & (tests["model"] == "permutation")]
    assert len(family) == 5 * 6  # Holm over 5 dimensions x 6 pairs
    expected = pg.multicomp(family["p_value"].to_numpy(), method="holm")[1]
    assert family["p_holm"].to_numpy() == pytest.approx(expected)


def test_k_groups_in_the_other_tables(four):
    assert list(four.agreement["model"][:5]) == ["all", *GROUPS]
    assert four.agreement.loc[0, "n_raters"] == 20  # none and company models agree with the rest
    assert set(four.top_bottom["group"]) == {"all", *GROUPS}
    assert four.overlap["model"].nunique() == 6 and {"cn_only", "sg_only", "tw_only", "us_only"} <= set(
        four.overlap
    )
    assert set(four.equivalence["contrast"]) == {f"{a} - {b}" for a, b in itertools.combinations(GROUPS, 2)}
    assert {"n_cn", "n_sg", "n_tw", "n_us"} <= set(four.archetypes)
    assert four.archetypes.groupby("method")[["n_cn", "n_sg", "n_tw", "n_us"]].sum().sum(axis=1).eq(18).all()
    assert len(four.clusters) == 2 * 20  # every model is clustered
    assert four.cluster_origin["method"].str.contains("Monte Carlo").all()
    assert four.cluster_origin["table"].str.contains("SG=").all()


def test_models_without_a_country_leave_two_group_tests_unchanged(values):
    """Adding an origin-none model changes no CN-US test (the golden two-group tables)."""
    sim = simulate_rankings(
        values=values, repetitions=6, languages=("en", "zh"), cluster_strength=0.8,
        origin_shift={"Social": 3.0}, invalid_rate=0.05, seed=11,
    )  # fmt: skip
    extra = sim.data[sim.data["model"] == "sim-us-01"].assign(model="sim-none-01", origin="none")
    data = pd.concat([sim.data, extra], ignore_index=True)
    results = analyze_rankings(data, values, n_boot=10, seed=3, k_max=6, mixed=False)
    for name in ("origin_tests", "equivalence"):
        golden = pd.read_csv(Path(__file__).parent / "golden" / "two_groups" / f"{name}.csv")
        pd.testing.assert_frame_equal(
            pd.read_csv(io.StringIO(getattr(results, name).to_csv(index=False))), golden
        )
    assert "sim-none-01" in set(results.mean_ranks["model"])


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R")
def test_sum_coded_mixed_model_equals_lmertest_and_emmeans_run_directly(values, tmp_path):
    sim = simulate_rankings(
        values=values,
        n_cn=6,
        n_us=6,
        repetitions=4,
        cluster_strength=0.5,
        origin_shift={"Social": 3.0},
        seed=4,
    )
    models = sorted(sim.data["model"].unique())
    origins = dict(zip(models, ["CN"] * 4 + ["TW"] * 4 + ["US"] * 4, strict=True))
    data = sim.data.assign(origin=sim.data["model"].map(origins))
    means = analyze_rankings(data, values, n_boot=0, seed=1, mixed=False).mean_ranks
    mixed, _ = fit_mixed_models(means, groups=("CN", "TW", "US"))
    reported = mixed[mixed["model"] == "lmer_nested"]
    formula = reported["formula"].iloc[0]
    path, out = tmp_path / "means.csv", tmp_path / "out.csv"
    means[["model", "origin", "value", "dimension", "mean_rank"]].to_csv(path, index=False)
    script = f"""
    suppressPackageStartupMessages({{library(lmerTest); library(emmeans)}})
    d <- read.csv("{path}", stringsAsFactors = TRUE)
    d$origin <- factor(d$origin, levels = c("CN", "TW", "US"))
    contrasts(d$origin) <- contr.sum(3)
    colnames(contrasts(d$origin)) <- c("CN", "TW")
    contrasts(d$dimension) <- contr.sum(nlevels(d$dimension))
    colnames(contrasts(d$dimension)) <- levels(d$dimension)[-nlevels(d$dimension)]
    fit <- lmer({formula}, data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
    co <- summary(fit, ddf = "Satterthwaite")$coefficients
    ct <- as.data.frame(pairs(emmeans(fit, ~ origin | dimension, lmer.df = "satterthwaite")))
    write.csv(rbind(data.frame(term = rownames(co), estimate = co[, 1], se = co[, 2], df = co[, 3]),
                    data.frame(term = paste0(ct$contrast, " | ", ct$dimension), estimate = ct$estimate,
                               se = ct$SE, df = ct$df)), "{out}", row.names = FALSE)
    """
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True, text=True)
    direct = pd.read_csv(out).set_index("term")
    ours = reported[reported["component"].isin(["fixed", "contrast"])].set_index("term")
    assert set(ours.index) == set(direct.index)
    assert {"originCN", "originTW", "TW - US | Social", "CN - TW | Social"} <= set(ours.index)
    for column, theirs in (("estimate", "estimate"), ("std_error", "se"), ("df", "df")):
        assert ours[column].to_numpy() == pytest.approx(direct.loc[ours.index, theirs].to_numpy(), rel=1e-5)
    contrasts = reported[reported["component"] == "contrast"]
    assert contrasts["p_holm"].to_numpy() == pytest.approx(
        pg.multicomp(contrasts["p_value"].to_numpy(), method="holm")[1]
    )


def test_report_section_describes_k_groups_from_the_tables(four):
    from valuesurvey.report._ranking import RankingContent
    from valuesurvey.report.content import fmt_num, fmt_p, markdown_table

    content = RankingContent(four)
    assert content.groups == GROUPS and content.many
    text = content.section(markdown_table)
    assert "{#tbl-rank-omnibus}" in text and "{#tbl-rank-origin}" in text
    assert "LLMs made in China, Singapore, Taiwan and the USA" in text
    omnibus = content.omnibus_table().set_index("Dimension")
    kw = four.origin_tests.query("model == 'kruskal_wallis' and level == 'dimension'").set_index("term")
    assert omnibus.loc["Social", "H"] == fmt_num(kw.loc["Social", "statistic"], 2)
    assert omnibus.loc["Social", "p (H, perm.)"] == fmt_p(kw.loc["Social", "p_holm"])
    pairs = content.pairs_table()
    assert len(pairs) == 5 * 6 and set(pairs["Pair"]) == {
        f"{a} − {b}" for a, b in itertools.combinations(GROUPS, 2)
    }
    assert list(content.dimension_table().columns[-4:]) == [
        "LLMs, China", "LLMs, Singapore", "LLMs, Taiwan", "LLMs, USA"
    ]  # fmt: skip
    assert content.key("kendall_w_tw") == fmt_num(four.agreement.set_index("model").loc["TW", "estimate"], 2)
    assert "Bottom, Taiwan" in content.top_bottom_table().columns
