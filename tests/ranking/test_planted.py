"""Simulated rankings: planted clusters and a planted CN-US difference are recovered; a null
simulation rejects at about the nominal rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from valuesurvey.ranking import analyze_rankings, compare_origins
from valuesurvey.ranking._data import dimension_scores, mean_ranks
from valuesurvey.ranking._stats import origin_pvalues
from valuesurvey.simulation.rankings import simulate_rankings


@pytest.fixture(scope="module")
def results(planted, values):
    return analyze_rankings(planted.data, values, n_boot=100, seed=1, mixed=False)


def test_planted_clusters_are_recovered(planted, results):
    truth = planted.models.set_index("model")["cluster"]
    for method, found in results.clusters.groupby("method"):
        assert adjusted_rand_score(truth.loc[found["model"]], found["cluster"]) >= 0.8, method
    chosen = results.cluster_selection[results.cluster_selection["chosen"]]
    assert set(chosen["k"]) == {4}


def test_clusters_are_stable_and_mixed(results):
    assert (results.cluster_stability["ari_mean"] >= 0.8).all()
    assert results.cluster_stability["n_boot"].min() > 50
    # Planted clusters were dealt independently of origin: the test should not reject.
    assert (results.cluster_origin["p_value"] > 0.05).all()
    assert (results.cluster_origin["mixed_clusters"] >= 3).all()


def test_planted_clusters_are_structure_by_the_rule(results):
    validity = results.cluster_validity.set_index("method")
    assert validity["structure"].all(), validity["reason"].to_dict()
    assert (validity["reason"] == "all criteria met").all()
    assert (validity["gap_k"] >= 2).all() and (validity["silhouette"] >= 0.25).all()
    assert (results.archetypes["structure"]).all()
    selection = results.cluster_selection
    assert set(selection.loc[selection["chosen_gap"], "k"]) == {4}  # the gap finds the planted k too


def test_labels_describe_each_cluster_profile(results, values):
    """A label names the dimensions its cluster ranks above average (z >= 0.5), nothing else."""
    dims = sorted(set(values.values()))
    for row in results.archetypes.itertuples():
        z = pd.Series({d: getattr(row, f"z_{d}") for d in dims})
        up = z[z >= 0.5].sort_values(ascending=False).index.tolist()
        down = z[z <= -0.5].sort_values().index.tolist()
        label = row.archetype.split(" (")[0]
        if up:
            assert label == "–".join(up) + " priority"
        elif down:
            assert label == "low " + "–".join(down)
        else:
            assert label == "average profile"
        # The profile is the cluster's own dimension scores against all models'.
        scores = results.dimension_scores.pivot(index="model", columns="dimension", values="score")
        members = row.models.split(";")
        expected = (scores.mean() - scores.loc[members].mean()) / scores.std(ddof=1)
        assert z.to_numpy() == pytest.approx(expected[dims].to_numpy())


@pytest.fixture(scope="module")
def noise_results(values):
    """No clusters: models differ only by independent noise around one shared hierarchy."""
    sim = simulate_rankings(
        values=values, repetitions=10, languages=("en", "zh"), cluster_strength=0.0, seed=3
    )
    return analyze_rankings(sim.data, values, n_boot=100, seed=1, mixed=False)


def test_pure_noise_has_no_cluster_structure(noise_results):
    validity = noise_results.cluster_validity.set_index("method")
    assert not validity["structure"].any()
    assert (validity["gap_k"] == 1).all()
    assert validity["reason"].str.contains("prefers a single cluster").all()
    assert not noise_results.archetypes["structure"].any()
    # hierarchical clustering still returns a partition (kept for the dendrogram's order)
    assert (validity["k"] >= 2).all()


@pytest.fixture(scope="module")
def shifted_results(shifted, values):
    return analyze_rankings(shifted.data, values, n_boot=100, seed=1, mixed=False)


def test_planted_origin_difference_is_detected(shifted_results, values):
    res = shifted_results
    tests = res.origin_tests[res.origin_tests["level"] == "dimension"]
    social = tests[tests["term"] == "Social"]
    # CN models rank Social values as more important: a smaller (negative) CN - US mean rank.
    assert (social["estimate"] < 0).all()
    assert (social["p_holm"] < 0.001).all()
    assert (social["effect_size"] < -0.8).all()
    # Ranks are a permutation, so other dimensions move the other way, but less.
    others = tests[tests["term"] != "Social"]
    assert (others["estimate"].abs().max()) < social["estimate"].abs().min()
    values_level = res.origin_tests[
        (res.origin_tests["level"] == "value") & (res.origin_tests["model"] == "welch_t")
    ]
    strongest = values_level.nsmallest(5, "p_value")["term"].map(values)
    assert (strongest == "Social").sum() >= 4


def test_no_planted_difference_in_the_clustered_data(results):
    dims = results.origin_tests[results.origin_tests["level"] == "dimension"]
    assert (dims["p_holm"] > 0.05).all()


def test_shared_hierarchy_and_agreement(results, shifted_results):
    dims = shifted_results.hierarchy[shifted_results.hierarchy["level"] == "dimension"].set_index("term")
    assert dims.loc["Personal", "position"] == 5  # planted last, with weak clusters
    assert {dims.loc["Protective", "position"], dims.loc["Epistemic", "position"]} == {1, 2}
    assert (dims["conf_low"] <= dims["estimate"]).all() and (dims["estimate"] <= dims["conf_high"]).all()
    assert dims.loc["Personal", "conf_low"] > dims.loc["Protective", "conf_high"]
    agree = results.agreement.set_index("model")
    assert agree.loc["all", "p_value"] < 0.001
    within = results.agreement[results.agreement["scope"] == "within_model"]
    assert len(within) == 20 and (within["estimate"] > agree.loc["all", "estimate"]).mean() > 0.8


def _null_dimension_scores(values, seed):
    sim = simulate_rankings(
        values=values, repetitions=3, cluster_strength=1.0, model_sd=0.6, origin_shift=None, seed=seed
    )
    long = sim.data.assign(dimension=sim.data["value"].map(values))
    return dimension_scores(mean_ranks(long))


def test_vectorised_pvalues_equal_the_pingouin_tests(values):
    dims = _null_dimension_scores(values, 999)
    out = compare_origins(dims, level="dimension", term_column="dimension", score_column="score")
    wide = dims.pivot(index="model", columns="dimension", values="score")
    is_cn = np.asarray(wide.index.str.startswith("sim-cn"))
    fast = origin_pvalues(wide.to_numpy(), is_cn)
    for test, p in fast.items():
        expected = out[out["model"] == test].set_index("term")["p_value"].reindex(wide.columns)
        assert p == pytest.approx(expected.to_numpy(), rel=1e-9)


def test_null_simulation_rejects_at_nominal_rate(values):
    """200 datasets with no CN-US difference: per-dimension tests reject in about 5% of cases."""
    dims = sorted(set(values.values()))
    member = np.array([[values[v] == d for d in dims] for v in values], dtype=float) / 5.0
    rejections = {"welch_t": [], "permutation": [], "mann_whitney_u": []}
    for seed in range(200):
        sim = simulate_rankings(
            values=values, repetitions=3, cluster_strength=1.0, model_sd=0.6, seed=1000 + seed
        )
        # No invalid rows: the table is models x reps x values in instrument order.
        ranks = sim.data["rank"].to_numpy().reshape(len(sim.models), 3, len(values))
        scores = ranks.mean(axis=1) @ member
        for test, p in origin_pvalues(scores, sim.models["origin"].to_numpy() == "CN").items():
            rejections[test].extend(p < 0.05)
    for test, flags in rejections.items():
        rate = float(np.mean(flags))
        assert len(flags) == 1000
        assert 0.02 <= rate <= 0.09, (test, rate)


def test_zero_valid_model_is_excluded_end_to_end(values):
    sim = simulate_rankings(values=values, repetitions=4, zero_valid_models=2, invalid_rate=0.2, seed=9)
    res = analyze_rankings(sim.data, values, n_boot=20, seed=1, mixed=False)
    assert res.exclusions["model"].tolist() == ["sim-us-08", "sim-us-09"]
    assert set(res.mean_ranks["model"]) == set(sim.models["model"]) - {"sim-us-08", "sim-us-09"}
    assert set(res.clusters["model"]).isdisjoint(res.exclusions["model"])
    n_reps = res.mean_ranks.groupby("model")["n_reps"].first()
    assert (n_reps <= 4).all() and pd.Series(n_reps).min() >= 1
