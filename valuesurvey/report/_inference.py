"""The inference parts of RQ1–RQ3 in the manuscript, every word computed from the analysis's tables.

What each sentence may say is decided by the fits: a mixed model is called recommended only when
its record says it converged and is not singular; standard errors are compared as the ratio of the
numbers (never "cautious" unless they are larger); the two-stage check is described by what it
found. Tables: ``estimates/fit_info.csv``, ``simplification.csv``, ``simple_effects_<i>.csv``,
``rq{1,2,3}_<i>.csv``, ``similarity/humans_flow.csv``, ``exclusions.csv``,
``exclusions_summary.csv`` and ``rq_settings.csv``. A missing table becomes a sentence saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from valuesurvey.report._terms import country_name
from valuesurvey.study import Study

__all__ = ["InferenceTables", "exclusion_table", "readable_random"]

#: Numeric codes of the random-effect terms, as a reader would name them.
_RANDOM_NAMES = {
    "language_congruentyes": "language congruence",
    "persona_congruentyes": "persona congruence",
    "origin_congruentyes": "origin congruence",
    "nationalityCN": "nationality",
    "originCN": "origin",
}
FIT_NAMES = {
    "lm": "lm (as published)",
    "lm_weighted": "lm, weighted",
    "lmer": "lmer (recommended)",
    "two_stage": "two-stage",
}


def readable_random(formula: str) -> str:
    """lme4 random-effect terms with the numeric codes named, e.g. ``(1 + nationality | model)``.

    >>> readable_random("(1 + nationalityCN || model) + (1 | participant)")
    '(1 + nationality ‖ model) + (1 | participant)'
    """
    text = str(formula)
    for code, name in sorted(_RANDOM_NAMES.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(code, name)
    return text.replace("||", "‖").replace(":", " × ").replace(" ×  × ", ":")


def _name(label: str) -> str:
    """'Nationality (China +0.5 / USA −0.5)' -> 'nationality'; 'LLM origin (...)' -> 'LLM origin'."""
    text = label.split(" (")[0]
    return text if text[:3].isupper() else text[:1].lower() + text[1:]


def _strings(column: pd.Series) -> pd.Series:
    """A column as text, missing values as "" (a level column is all-NaN for non-RQ3 analyses)."""
    return column.astype(object).where(column.notna(), "").astype(str)


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    return pd.read_csv(path, keep_default_na=True)


def _num(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return f"{float(value):.{digits}f}"


def _p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "<\u00a00.001" if p < 0.001 else f"= {p:.3f}"


@dataclass
class InferenceTables:
    """The analysis tables the inference text reads (each read once)."""

    study: Study
    _cache: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    def _table(self, key: str, path: Path) -> pd.DataFrame | None:
        if key not in self._cache:
            self._cache[key] = _read(path)
        return self._cache[key]

    def fit_info(self) -> pd.DataFrame | None:
        return self._table("fit_info", self.study.paths.estimates("fit_info"))

    def simplification(self) -> pd.DataFrame | None:
        return self._table("simplification", self.study.paths.estimates("simplification"))

    def simple_effects(self, instrument: str) -> pd.DataFrame | None:
        return self._table(f"simple_{instrument}", self.study.paths.estimates(f"simple_effects_{instrument}"))

    def flow(self) -> pd.DataFrame | None:
        return self._table("flow", self.study.paths.similarity_dir / "humans_flow.csv")

    def summary(self) -> pd.DataFrame | None:
        return self._table("summary", self.study.paths.similarity_dir / "exclusions_summary.csv")

    def settings(self) -> pd.DataFrame | None:
        return self._table("settings", self.study.paths.similarity_dir / "rq_settings.csv")

    # ---- the recommended model ------------------------------------------------------------
    def _lmer_rows(self, analysis: str) -> pd.DataFrame:
        info = self.fit_info()
        if info is None or "model" not in info.columns:
            return pd.DataFrame()
        return info[(info["analysis"] == analysis) & (info["model"] == "lmer")]

    def _record(self, analysis: str) -> pd.DataFrame:
        record = self.simplification()
        if record is None:
            return pd.DataFrame()
        return record[record["analysis"] == analysis]

    def recommended_ok(self, analysis: str) -> bool:
        """The mixed model exists, converged and is not singular (at every removal level)."""
        rows = self._lmer_rows(analysis)
        if rows.empty or "singular" not in rows.columns:
            return False
        converged = rows["converged"].fillna(True).astype(bool) if "converged" in rows else True
        return bool((~rows["singular"].astype(bool) & converged).all())

    def recommended_sentence(self, analysis: str, label: str) -> str:
        """Which mixed model is recommended, reached how; or why none is."""
        rows = self._lmer_rows(analysis)
        record = self._record(analysis)
        if rows.empty:
            if not record.empty:
                return (
                    "No mixed model is reported: no random-effects structure converged without a singular "
                    f"fit ({label}); the lm and two-stage results stand alone."
                )
            return "No mixed model was fitted for this analysis."
        if not self.recommended_ok(analysis):
            bad = rows[rows["singular"].astype(bool) | ~rows["converged"].fillna(True).astype(bool)]
            return (
                f"The mixed model is shown but not recommended: it is singular or did not converge "
                f"({len(bad)} of {len(rows)} fits; {label})."
            )
        if "level" in rows.columns and _strings(rows["level"]).str.len().gt(0).any() and len(rows) > 1:
            return self._levels_sentence(rows, record, label)
        row = rows.iloc[0]
        requested = str(row.get("random_requested", ""))
        final = str(row.get("random_final", ""))
        steps = int(record["step"].max()) if not record.empty else 1
        how = (
            f"the structure requested, fitted as it is ({label})"
            if final == requested
            else f"simplified from `{readable_random(requested)}` in {steps - 1} step{'s' if steps > 2 else ''} ({label})"
        )
        return (
            f"Recommended mixed model: random effects `{readable_random(final)}`, {how}; it converged and is "
            "not singular."
        )

    def _levels_sentence(self, rows: pd.DataFrame, record: pd.DataFrame, label: str) -> str:
        finals = rows["random_final"].astype(str).value_counts()
        requested = str(rows["random_requested"].iloc[0])
        parts = [f"`{readable_random(f)}` at {n} level{'s' if n > 1 else ''}" for f, n in finals.items()]
        return (
            "Recommended mixed model: each removal level is fitted on the within-pair differences "
            "(cosine at that level minus cosine with nothing removed), which cancel the participant × LLM "
            f"pair effect exactly, starting from `{readable_random(requested)}`; the recorded simplification "
            f"({label}) ends at {'; '.join(parts)}. Every fit converged and none is singular."
        )

    def simplification_table(self, analysis: str) -> pd.DataFrame:
        """The record, one row per attempt (for RQ3 only the levels whose structure was simplified)."""
        record = self._record(analysis)
        if record.empty:
            return pd.DataFrame()
        if "level" in record.columns and _strings(record["level"]).str.len().gt(0).any():
            simplified = record.groupby("level")["step"].transform("max") > 1
            record = record[simplified | (record["level"] == "none")]
        out = pd.DataFrame(
            {
                "Level": _strings(record["level"]) if "level" in record else "",
                "Step": record["step"].astype(int),
                "Random effects": [readable_random(r) for r in _strings(record["random"])],
                "Optimizer": _strings(record["optimizer"]),
                "Converged": ["yes" if c else "no" for c in record["converged"].fillna(False)],
                "Singular": ["yes" if s else "no" for s in record["singular"].fillna(False)],
                "Decision": [readable_random(d) for d in _strings(record["decision"])],
            }
        )
        if not out["Level"].str.len().gt(0).any():
            out = out.drop(columns="Level")
        return out.reset_index(drop=True)

    # ---- uncertainty and the design-based check --------------------------------------------
    def uncertainty_sentence(
        self, estimates: pd.DataFrame, terms: list[str], label: Callable[[str], str]
    ) -> str:
        """How the mixed model's SEs compare with lm's, in numbers."""
        lm = estimates[estimates["model"] == "lm"].set_index("term")
        lmer = estimates[estimates["model"] == "lmer"].set_index("term")
        shared = [t for t in terms if t in lm.index and t in lmer.index]
        if not shared:
            return ""
        ratio = (lmer.loc[shared, "std_error"] / lm.loc[shared, "std_error"]).astype(float)
        larger = [t for t in shared if ratio[t] > 1]
        smaller = [t for t in shared if ratio[t] <= 1]
        bits = []
        if larger:
            bits.append(
                "its standard errors are "
                + ", ".join(f"{ratio[t]:.1f}× lm's for {_name(label(t))}" for t in larger)
                + f" (Satterthwaite df {_num(lmer.loc[larger, 'df'].min(), 0)}–{_num(lmer.loc[larger, 'df'].max(), 0)}"
                f" instead of lm's {_num(lm.loc[larger, 'df'].iloc[0], 0)}): lm treats every person × LLM pair as "
                "an independent observation"
            )
        if smaller:
            bits.append(
                "smaller than lm's for "
                + ", ".join(f"{_name(label(t))} ({ratio[t]:.2f}×)" for t in smaller)
                + ", where removing person and LLM variation from the residual sharpens the contrast"
            )
        return "For the key terms " + "; ".join(bits) + "."

    def two_stage_sentence(
        self, estimates: pd.DataFrame, terms: list[str], label: Callable[[str], str], alpha: float = 0.05
    ) -> str:
        """What the design-based check found for the key terms, beside the mixed model."""
        two = estimates[estimates["model"] == "two_stage"].set_index("term")
        lmer = estimates[estimates["model"] == "lmer"].set_index("term")
        shared = [t for t in terms if t in two.index]
        if not shared:
            return ""
        bits, disagree = [], []
        for term in shared:
            row = two.loc[term]
            bits.append(
                f"{_name(label(term))} β = {_num(row['estimate'])}, SE {_num(row['std_error'])}, "
                f"p {_p(row['p_value'])}"
            )
            if term in lmer.index and (row["p_value"] < alpha) != (lmer.loc[term, "p_value"] < alpha):
                disagree.append(_name(label(term)))
        df = int(two.loc[shared[0], "df"])
        verdict = (
            "It agrees with the mixed model on which key effects are significant at α = 0.05."
            if not disagree and not lmer.empty
            else (
                f"It disagrees with the mixed model at α = 0.05 on {', '.join(disagree)}; read those effects "
                "with the design-based result in mind."
                if disagree
                else ""
            )
        )
        return (
            f"Design-based check (two-stage: per-LLM contrasts of the nationality means, then a test across "
            f"the {df + 2} LLMs, df = {df}): " + "; ".join(bits) + ". " + verdict
        ).strip()

    def simple_effects_table(self, instrument: str, analysis: str, fit: str = "lmer") -> pd.DataFrame:
        simple = self.simple_effects(instrument)
        if simple is None or simple.empty:
            return pd.DataFrame()
        part = simple[(simple["analysis"] == analysis) & (simple["model"] == fit)]
        if part.empty:
            return pd.DataFrame()
        return pd.DataFrame(
            {
                "Effect": part["effect"].str.capitalize() + " (" + part["contrast"] + ")",
                "At": part["at"].str.replace("_", " ").str.replace("origin = ", "LLM origin = "),
                "β": [_num(v) for v in part["estimate"]],
                "SE": [_num(v) for v in part["std_error"]],
                "df": [_num(v, 1) for v in part["df"]],
                "p": [_p(v).removeprefix("= ") for v in part["p_value"]],
            }
        ).reset_index(drop=True)

    def weights_sentence(self) -> str:
        settings = self.settings()
        weighted = {
            instrument: spec.weights for instrument, spec in self.study.humans.items() if spec.weighted
        }
        if not weighted:
            return "No survey weights are used: every person counts once (the paper's analysis)."
        names = ", ".join(f"{i} by {w}" for i, w in weighted.items())
        note = ""
        if (
            settings is not None
            and "weighted" in settings.columns
            and not settings["weighted"].astype(bool).any()
        ):
            note = " (the last analysis ran without them: rerun `valuesurvey analyze`)"
        return (
            f"Survey weights ({names}) are used in the human means and distributions, in a weighted lm "
            "(lm, weighted) beside the paper's, and in the two-stage check's nationality means; the mixed "
            "models are unweighted, because lme4's weights are precision weights, not sampling weights"
            f"{note}."
        )

    # ---- people and exclusions --------------------------------------------------------------
    def humans_table(
        self,
        names: dict[str, str],
        fallback: Callable[[str], pd.DataFrame | None],
        source_of: Callable[[str], str],
    ) -> pd.DataFrame:
        """Per instrument and country: loaded, complete, z-scorable, analysed (per analysis), and
        the source as ``source_of(instrument)`` states it."""
        flow = self.flow()
        rows = []
        for instrument in self.study.instruments:
            source = source_of(instrument)
            part = flow[flow["instrument"] == instrument] if flow is not None else pd.DataFrame()
            if part.empty:
                humans = fallback(instrument)
                if humans is None:
                    continue
                loaded = humans.drop_duplicates("participant").groupby("nationality")["participant"].size()
                for nat, n in loaded.items():
                    rows.append(
                        (names.get(instrument, instrument), country_name(nat), int(n), "", "", "", source)
                    )
                continue
            for record in part.itertuples(index=False):
                analysed = [getattr(record, f"n_analysed_{a}", None) for a in ("rq1", "rq2", "rq3")]
                shown = [str(int(n)) for n in analysed if n is not None and not pd.isna(n)]
                rows.append(
                    (
                        names.get(instrument, instrument),
                        country_name(record.nationality),
                        int(record.n_loaded),
                        int(record.n_complete),
                        int(record.n_zscorable),
                        shown[0] if len(set(shown)) == 1 else " / ".join(shown),
                        source,
                    )
                )
        return pd.DataFrame(
            rows,
            columns=["Instrument", "Country", "Loaded", "Complete", "Z-scorable", "Analysed", "Source"],
        )

    def kept_sentence(self, names: dict[str, str]) -> str:
        summary = self.summary()
        if summary is None or summary.empty or "n_people" not in summary.columns:
            return ""
        bits = []
        for instrument, part in summary.groupby("instrument", sort=False):
            kept = "; ".join(
                f"{row.analysis.upper()} {int(row.n_models)} LLMs × {int(row.n_people)} people"
                for row in part.itertuples(index=False)
            )
            bits.append(f"{names.get(instrument, instrument)}: {kept}")
        return "Analysed after the rule — " + ". ".join(bits) + "."

    # ---- limitations ------------------------------------------------------------------------
    def limitations_sentence(self, analyses: list[str]) -> str:
        """What the fits say about lm, the intercept-only model and the recommended one."""
        fitted = [a for a in analyses if not self._lmer_rows(a).empty]
        if not fitted:
            return (
                "The lm fits treat every person × LLM pair as an independent observation, which they are "
                "not; no mixed model is reported beside them."
            )
        ok = [a for a in fitted if self.recommended_ok(a)]
        text = (
            "The lm fits, kept exactly as published, treat every person × LLM pair as an independent "
            "observation, which they are not: people see every LLM and every LLM every person. Mixed models "
            "with only crossed random intercepts ignore that the nationality effect differs between LLMs, so "
            "their standard errors for nationality × origin effects are too small, not cautious. The "
            "recommended mixed models add the random slopes the design implies, simplified only as recorded."
        )
        text += self._power_evidence()
        if len(ok) < len(fitted):
            text += (
                f" For {len(fitted) - len(ok)} analysis(es) no converged, non-singular mixed model was found; "
                "read their lm and two-stage results with this in mind."
            )
        return text

    def _power_evidence(self) -> str:
        """Coverage measured by ``valuesurvey power`` on this study's design, when it has been run."""
        path = self.study.paths.root / "power" / "power.csv"
        if not path.exists():
            return (
                " `valuesurvey power` measures, for this design, how often each fit's 95% intervals hold "
                "the truth."
            )
        table = pd.read_csv(path)
        first = self.study.design.codes[0]  # the power analysis simulates the study's two countries
        term = f"nationality{first}:origin{first}"
        part = table[(table["analysis"] == "rq1") & (table["term"] == term)].set_index("fit")
        if not {"intercepts", "recommended"} <= set(part.index):
            return ""
        n = int(part["n_simulations"].max())
        lm = f", lm {part.loc['lm', 'coverage']:.2f}" if "lm" in part.index else ""
        return (
            f" In {n} simulations of this design (`valuesurvey power`), 95% intervals for the nationality × "
            f"LLM origin interaction held the truth {part.loc['recommended', 'coverage']:.2f} of the time "
            f"with the recommended model, {part.loc['intercepts', 'coverage']:.2f} with intercepts only{lm}."
        )


def exclusion_table(exclusions: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """One row per instrument × analysis × what × reason: how many and which."""
    frame = exclusions.copy()
    for column in (
        "instrument",
        "analysis",
        "kind",
        "reason",
        "model",
        "nationality",
        "participant",
        "removed",
    ):
        if column not in frame.columns:
            frame[column] = pd.NA
    frame["kind"] = frame["kind"].fillna("llm")
    rows = []
    keys = ["instrument", "analysis", "kind", "reason"]
    for (instrument, analysis, kind, reason), part in frame.groupby(keys, dropna=False, sort=True):
        levels = {str(r) for r in part["removed"].dropna()}
        removed = sorted(levels - {"", "none"})
        why = str(reason).replace("_", " ")
        if reason == "zero_variance" and removed:
            shown = ", ".join(removed[:4]) + (" …" if len(removed) > 4 else "")
            why = f"zero variance ({'with nothing or ' if 'none' in levels else 'with '}{shown} removed)"
        if kind == "person":
            people = part.drop_duplicates("participant")
            counts = people["nationality"].dropna().astype(str).map(country_name).value_counts().sort_index()
            who = ", ".join(f"{country} {n}" for country, n in counts.items())
            n = int(people["participant"].nunique())
            what = "participants"
        else:
            who = ", ".join(sorted(part["model"].dropna().astype(str).unique()))
            n = int(part["model"].nunique())
            what = "LLMs"
        rows.append(
            (
                names.get(str(instrument), str(instrument)),
                "all" if pd.isna(analysis) else str(analysis).upper().replace("ALL", "all"),
                what,
                n,
                why,
                who,
            )
        )
    return pd.DataFrame(rows, columns=["Instrument", "Analysis", "Excluded", "n", "Reason", "Who"])
