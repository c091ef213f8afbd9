"""The manuscript's section on subscale scores (``scores/<instrument>_llm.csv``, ``_humans.csv``).

One table per rating instrument whose dimensions group several items (MFQ-2's foundations, the
Mini-IPIP's Big Five, a user's subscales; not WVS-7, whose items are their own dimensions): a row per
LLM condition, and with human data a row per nationality, a column per dimension. Scores are the
means of the dimension's items after reverse keying (:mod:`valuesurvey.scoring`). A study without
such an instrument, or not yet analysed, gets no section.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from valuesurvey.report.content import INSTRUMENT_NAMES, markdown_table
from valuesurvey.study import Study

__all__ = ["scores_section"]

HEADING = "Subscale scores"


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else None


def _cell(score: object, n_items: int | None = None, total: int | None = None) -> str:
    if score is None or pd.isna(score):
        return "NA"
    text = f"{float(score):.2f}"
    return text if n_items is None or n_items == total else f"{text} ({n_items}/{total})"


def _table(llm: pd.DataFrame, humans: pd.DataFrame | None, dimensions: list[str]) -> pd.DataFrame:
    rows = []
    for (model, language, persona), frame in llm.groupby(["model", "language", "persona"], sort=False):
        by_dim = frame.set_index("dimension")
        row = {"Source": f"{model}, {language}, persona {persona}"}
        for dim in dimensions:
            if dim in by_dim.index:
                r = by_dim.loc[dim]
                row[dim] = _cell(r["score"], int(r["n_items"]), int(r["items_total"]))
            else:
                row[dim] = "NA"
        rows.append(row)
    if humans is not None:
        for nationality, frame in humans.groupby("nationality", sort=True):
            by_dim = frame.set_index("dimension")
            weighted = bool(frame["weighted"].iloc[0]) if "weighted" in frame else False
            column = "weighted_score" if weighted else "score"
            n = int(frame["n"].max())
            row = {"Source": f"people of {nationality} (n = {n}{', weighted' if weighted else ''})"}
            for dim in dimensions:
                row[dim] = _cell(by_dim.loc[dim, column]) if dim in by_dim.index else "NA"
            rows.append(row)
    return pd.DataFrame(rows, columns=["Source", *dimensions])


def _instrument_block(study: Study, instrument_id: str, inst: object) -> str:
    llm = _read(study.paths.scores_dir / f"{instrument_id}_llm.csv")
    if llm is None or llm.empty:
        return ""
    humans = _read(study.paths.scores_dir / f"{instrument_id}_humans.csv")
    dimensions = list(inst.dimensions)  # type: ignore[attr-defined]
    reversed_ids = [item.id for item in inst.items if item.reverse]  # type: ignore[attr-defined]
    scale = inst.scale  # type: ignore[attr-defined]
    name = INSTRUMENT_NAMES.get(instrument_id, str(inst.name))  # type: ignore[attr-defined]
    keying = (
        f"{len(reversed_ids)} reverse-keyed items scored {scale.min + scale.max} − rating"
        if reversed_ids
        else "no reverse-keyed items"
    )
    caption = (
        f"{name}: mean of each dimension's items on the {scale.min}–{scale.max} scale ({keying}); "
        "LLM rows average each item's mean over valid repetitions, (k/n) when only k of its n items had "
        f"one; human rows average the participants' scores (`scores/{instrument_id}_*.csv`)."
    )
    return markdown_table(
        _table(llm, humans, dimensions), caption=caption, label=f"tbl-scores-{instrument_id}"
    )


def scores_section(study: Study) -> str:
    """Markdown for the subscale scores (a ``##`` section), or ``""`` when there is nothing to show."""
    from valuesurvey import instruments

    try:
        found = instruments.for_study(study)
    except Exception:  # an instrument file moved away: the instruments table says so
        return ""
    blocks = []
    for instrument_id, inst in found.items():
        if inst.kind != "rating" or len(inst.dimensions) == len(inst.items):
            continue  # each item its own dimension (WVS-7): the item means are the scores
        block = _instrument_block(study, instrument_id, inst)
        if block:
            blocks.append(block)
    if not blocks:
        return ""
    intro = (
        f"## {HEADING} {{#sec-scores}}\n\n"
        "Each dimension's score is the mean of its items after reverse keying (a reverse-keyed item's "
        "rating x counts as min + max − x), the usual scoring of these questionnaires."
    )
    return "\n\n".join([intro, *blocks])
