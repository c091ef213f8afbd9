"""The exclusion rule: which people and which LLMs each analysis keeps, and why the others go.

One rule for every reason a response vector cannot be used, applied to whole vectors, never to
single pairs:

* an **LLM condition** (model × language × persona) is unusable when an item has no valid rating
  (refused, invalid or failed in every repetition, or never asked) or when its item means have zero
  variance at a removal level the analysis uses (it cannot be z-scored);
* an LLM with an unusable condition is excluded from every analysis that uses that condition — all
  its rows, so that every analysis compares the same models for every nationality;
* a **person** with a missing rating is excluded from the instrument; a person whose ratings have
  zero variance at a removal level an analysis uses is excluded from that analysis.

After the rule every analysis is a complete crossing of people and LLM conditions (no NaN cosine
is left), which the mixed models rely on (``R/crossed.R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from valuesurvey.design import StudyDesign, default_design
from valuesurvey.errors import DataError
from valuesurvey.regressions import analysis_conditions, analysis_rows, excluded_models

__all__ = ["EXCLUSION_RULE", "AnalysisSample", "humans_flow", "select_sample"]

EXCLUSION_RULE = (
    "An LLM condition (model × language × persona) is unusable when an item has no valid rating "
    "(refused, invalid or failed in every repetition) or its ratings have zero variance; an LLM with "
    "an unusable condition is left out of every analysis that uses that condition, for every "
    "nationality. People with a missing rating are left out of the instrument, people whose ratings "
    "have zero variance out of the analyses where that happens (RQ3: at any removal level)."
)


@dataclass(frozen=True)
class AnalysisSample:
    """The rows one analysis keeps and the exclusions behind them."""

    analysis: str
    rows: np.ndarray  # boolean mask over the similarity table
    llm_exclusions: pd.DataFrame  # one row per unusable condition × cause (item or removal level)
    person_exclusions: pd.DataFrame  # participant, nationality, removed, reason
    n_pairs_zero_variance: int  # pairs with a NaN cosine among the analysis rows before the rule

    @property
    def models_excluded(self) -> list[str]:
        return sorted(set(self.llm_exclusions["model"].astype(str)))


def _levels(analysis: str, sim: pd.DataFrame) -> set[str]:
    return set(sim["removed"].astype(str).unique()) if analysis == "rq3" else {"none"}


def select_sample(
    sim: pd.DataFrame,
    analysis: str,
    *,
    llm_incomplete: pd.DataFrame,
    zero_variance: pd.DataFrame,
    design: StudyDesign | None = None,
) -> AnalysisSample:
    """Apply the exclusion rule for ``analysis`` to the similarity table.

    Parameters
    ----------
    sim : DataFrame
        :func:`valuesurvey.similarity.pair_similarity` output.
    llm_incomplete : DataFrame
        :func:`valuesurvey.similarity.llm_exclusions` rows (conditions with an item lacking a valid
        rating).
    zero_variance : DataFrame
        :func:`valuesurvey.similarity.zero_variance_report` rows.
    design : StudyDesign
        Languages, personas and the pairing (default: the paper's).

    Raises
    ------
    DataError
        When a NaN cosine survives the rule (a vector the reports do not know about).
    """
    design = design or default_design()
    conditions = set(analysis_conditions(analysis, design))
    levels = _levels(analysis, sim)

    def in_conditions(frame: pd.DataFrame) -> np.ndarray:
        keys = zip(frame["language"].astype(str), frame["persona"].astype(str), strict=True)
        return np.array([key in conditions for key in keys], dtype=bool)

    incomplete = excluded_models(llm_incomplete, analysis, design).drop(columns="analysis")
    llm_zero = zero_variance[zero_variance["kind"] == "llm"]
    llm_zero = llm_zero[llm_zero["removed"].astype(str).isin(levels)]
    llm_zero = llm_zero[in_conditions(llm_zero)] if len(llm_zero) else llm_zero
    llm_rows = pd.concat(
        [
            incomplete.assign(removed=""),
            llm_zero.assign(reason="zero_variance", item=""),
        ],
        ignore_index=True,
    )
    cols = ["model", "origin", "language", "persona", "item", "removed", "reason"]
    cols += [c for c in ("n_reps", "n_refusal", "n_invalid", "n_error") if c in llm_rows.columns]
    llm_rows = llm_rows.reindex(columns=cols)
    person_zero = zero_variance[zero_variance["kind"] == "person"]
    person_zero = person_zero[person_zero["removed"].astype(str).isin(levels)]
    person_rows = person_zero.assign(reason="zero_variance")[
        ["participant", "nationality", "removed", "reason"]
    ]

    base = analysis_rows(sim, analysis, design).to_numpy()
    keep = base.copy()
    if len(llm_rows):
        keep &= ~sim["model"].astype(str).isin(set(llm_rows["model"].astype(str))).to_numpy()
    if len(person_rows):
        keep &= ~sim["participant"].astype(str).isin(set(person_rows["participant"].astype(str))).to_numpy()
    cosine = sim["cosine"].to_numpy()
    if np.isnan(cosine[keep]).any():
        first = sim[keep & np.isnan(cosine)].iloc[0]
        raise DataError(
            f"{analysis}: a NaN cosine survived the exclusion rule (participant {first['participant']}, "
            f"model {first['model']}, removed {first['removed']})"
        )
    return AnalysisSample(
        analysis=analysis,
        rows=keep,
        llm_exclusions=llm_rows.reset_index(drop=True),
        person_exclusions=person_rows.reset_index(drop=True),
        n_pairs_zero_variance=int(np.isnan(cosine[base]).sum()),
    )


def humans_flow(
    humans: pd.DataFrame,
    people: pd.DataFrame,
    zero_variance: pd.DataFrame,
    analysed: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """People per nationality at each step: loaded, complete, z-scorable, analysed per analysis.

    Parameters
    ----------
    humans : DataFrame
        The humans table as loaded (every respondent of the selected countries).
    people : DataFrame
        The complete person vectors (:func:`valuesurvey.similarity.person_matrix`).
    zero_variance : DataFrame
        :func:`valuesurvey.similarity.zero_variance_report` rows.
    analysed : dict
        Analysis → the rows it fitted (participant, nationality).

    Returns
    -------
    DataFrame
        nationality, n_loaded, n_complete, n_zscorable (complete, non-zero variance with nothing
        removed), then n_analysed_<analysis> per analysis.
    """
    loaded = humans.drop_duplicates("participant").groupby("nationality", observed=True)["participant"].size()
    complete_index = people.index.to_frame(index=False)
    complete = complete_index.groupby("nationality", observed=True)["participant"].size()
    zero_none = zero_variance[
        (zero_variance["kind"] == "person") & (zero_variance["removed"].astype(str) == "none")
    ]
    flat = set(zero_none["participant"].astype(str))
    scorable = (
        complete_index[~complete_index["participant"].astype(str).isin(flat)]
        .groupby("nationality", observed=True)["participant"]
        .size()
    )
    nationalities = sorted(set(loaded.index.astype(str)))
    out = pd.DataFrame({"nationality": nationalities})
    for name, counts in (("n_loaded", loaded), ("n_complete", complete), ("n_zscorable", scorable)):
        counts.index = counts.index.astype(str)
        out[name] = out["nationality"].map(counts).fillna(0).astype(int)
    for analysis, rows in analysed.items():
        counts = (
            rows.drop_duplicates("participant").groupby("nationality", observed=True)["participant"].size()
        )
        counts.index = counts.index.astype(str)
        out[f"n_analysed_{analysis}"] = out["nationality"].map(counts).fillna(0).astype(int)
    return out
