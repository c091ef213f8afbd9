"""The manuscript's section on the analyses declared in study.yaml (``analyses:``).

One subsection per analysis: the data and filter, the formula and family, the coding of every factor
(declared or R's default), what the fit says about itself (converged, singular, simplified, R's
messages), a table of estimates, and the emmeans and contrast tables. Everything is read from
``estimates/<name>.csv``, ``<name>_emmeans.csv``, ``<name>_contrasts.csv`` and
``estimates/declared_{fit_info,coding,simplification}.csv``; a study without declared analyses gets
no section at all.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from valuesurvey.analyses import AnalysisSpec
from valuesurvey.report._terms import (
    COUNTRY,
    VARIABLE_NAMES,
    VariableCoding,
    coding_from_table,
    split_term,
    term_label,
)
from valuesurvey.study import Study

__all__ = ["declared_section"]

HEADING = "Analyses declared in study.yaml"
DATA_TEXT = {
    "similarity": "the person × LLM similarity table",
    "ratings": "the LLM ratings (every repetition)",
    "rankings": "the LLM rankings (every repetition)",
}
FAMILY_TEXT = {
    "lm": "a linear model (lm, OLS)",
    "lmer": "a linear mixed model (lme4::lmer, REML, lmerTest {ddf} df)",
    "clm": "a cumulative link model (ordinal::clm, {link} link)",
    "clmm": "a cumulative link mixed model (ordinal::clmm, {link} link, Laplace approximation)",
}


def _num(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    value = float(value)  # type: ignore[arg-type]
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def _p(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return "<\u00a00.001" if float(value) < 0.001 else f"{float(value):.3f}"  # type: ignore[arg-type]


def _slug(name: str) -> str:
    return name.replace("_", "-")


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=True) if path.exists() else None


def _rows(frame: pd.DataFrame | None, name: str) -> pd.DataFrame:
    if frame is None or "analysis" not in frame.columns:
        return pd.DataFrame()
    return frame[frame["analysis"] == name].reset_index(drop=True)


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _coding_sentence(coding: pd.DataFrame) -> str:
    if coding.empty:
        return "No factor among the predictors (nothing to code)."
    parts = []
    for variable, rows in coding.groupby("variable", sort=False):
        scheme = str(rows["scheme"].iloc[0])
        default = (
            " (R's default, not declared)"
            if str(rows.get("source", pd.Series(["study.yaml"])).iloc[0]) == "default"
            else ""
        )
        if scheme == "half_sum":
            plus = rows.loc[rows["value"] > 0, "level"].astype(str).tolist()
            minus = rows.loc[rows["value"] < 0, "level"].astype(str).tolist()
            parts.append(f"{variable} half-sum, {', '.join(plus)} = +0.5, {', '.join(minus)} = −0.5{default}")
        elif scheme == "treatment":
            reference = rows.groupby("level", sort=False)["value"].max()
            parts.append(
                f"{variable} treatment, reference {', '.join(reference[reference == 0].index.astype(str))}{default}"
            )
        else:
            parts.append(
                f"{variable} sum-to-zero (contr.sum; the last level is −1 in every contrast){default}"
            )
    return "Coding: " + "; ".join(parts) + "."


def _fit_sentences(info: pd.Series, simplification: pd.DataFrame, spec: AnalysisSpec) -> str:
    parts = []
    converged = bool(info.get("converged", True))
    singular = bool(info.get("singular", False))
    requested, final = _text(info.get("random_requested")), _text(info.get("random_final"))
    if requested and requested != final:
        steps = int(simplification["step"].max()) if not simplification.empty else 0
        parts.append(
            f"The requested random effects `{requested}` were simplified in {steps} recorded steps "
            f"(`estimates/declared_simplification.csv`) to `{final}`."
        )
    if not converged:
        parts.append("**The fit did not converge**: its estimates are shown but should not be interpreted.")
    if singular:
        hint = "" if spec.simplify else " (`simplify: true` fits the structure the data support)"
        parts.append(
            "**The fit is singular** (a random-effect variance at zero or a correlation at ±1): the fixed "
            f"effects are shown, but the random-effects structure is more than the data support{hint}."
        )
    if converged and not singular:
        parts.append("The fit converged and is not singular.")
    messages = [m for m in _text(info.get("messages")).split(" | ") if m and "singular" not in m]
    if messages:
        parts.append("R's messages: " + "; ".join(f"“{m}”" for m in messages) + ".")
    return " ".join(parts)


def _not_fitted_sentence(info: pd.Series, simplification: pd.DataFrame) -> str:
    attempts = len(simplification)
    why = _text(info.get("messages")) or "no random-effect structure converged without a singular fit"
    return (
        f"**No estimates** (R: “{why}”). The requested random effects "
        f"`{_text(info.get('random_requested'))}` and their simplifications are {attempts} recorded "
        f"attempt{'s' if attempts != 1 else ''} in `estimates/declared_simplification.csv`."
    )


def _term(term: str, labels: dict[str, VariableCoding]) -> str:
    """term_label, with the levels of a half-sum factor that is not a country named as well."""
    parts = split_term(term, {**VARIABLE_NAMES, **labels})
    coding = labels.get(parts[0][0]) if len(parts) == 1 else None
    if (
        coding is not None
        and coding.scheme == "half_sum"
        and coding.positive not in COUNTRY
        and coding.positive
        and coding.negative
    ):
        name = VARIABLE_NAMES.get(parts[0][0], parts[0][0])
        return f"{name} ({coding.positive} +0.5 / {coding.negative} −0.5)"
    return term_label(term, labels)


def _estimates_table(tidy: pd.DataFrame, coding: pd.DataFrame, name: str) -> pd.DataFrame:
    labels = coding_from_table(coding, name) if not coding.empty else {}
    ordinal = set(tidy["model"]) & {"clm", "clmm"}
    rows = []
    for _, row in tidy.iterrows():
        term = str(row["term"])
        label = f"Threshold {term}" if row.get("effect") == "threshold" else _term(term, labels)
        rows.append(
            {
                "Term": label,
                "Estimate": _num(row["estimate"]),
                "SE": _num(row["std_error"]),
                **({} if ordinal else {"df": _num(row["df"], 1)}),
                ("z" if ordinal else "t"): _num(row["statistic"], 2),
                "p": _p(row["p_value"]) if row.get("effect") != "threshold" else "",
                "95% CI": f"[{_num(row['conf_low'])}, {_num(row['conf_high'])}]",
            }
        )
    return pd.DataFrame(rows)


def _grid_table(frame: pd.DataFrame, label_column: str) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "Within": [_text(v) for v in frame["at"]],
            label_column.capitalize(): [_text(v) for v in frame[label_column]],
            "Estimate": [_num(v) for v in frame["estimate"]],
            "SE": [_num(v) for v in frame["std_error"]],
            "df": [_num(v, 1) for v in frame["df"]],
            "p": [_p(v) for v in frame["p_value"]],
            "95% CI": [
                f"[{_num(lo)}, {_num(hi)}]"
                for lo, hi in zip(frame["conf_low"], frame["conf_high"], strict=True)
            ],
        }
    )
    if not any(out["Within"]):
        out = out.drop(columns="Within")
    return out


def _emmeans_blocks(study: Study, spec: AnalysisSpec) -> list[str]:
    from valuesurvey.report.content import markdown_table

    emm = _read(study.paths.estimates(f"{spec.name}_emmeans"))
    con = _read(study.paths.estimates(f"{spec.name}_contrasts"))
    blocks = []
    for k, emm_spec in enumerate(spec.emmeans, start=1):
        label = f"tbl-declared-{_slug(spec.name)}-emm-{k}"
        part = emm[emm["index"] == k] if emm is not None else pd.DataFrame()
        if part.empty:
            blocks.append(
                f"The emmeans `{emm_spec.specs}` were not computed (`{spec.name}_emmeans.csv` lacks them)."
            )
            continue
        scale = f", {emm_spec.mode or 'latent'} scale" if spec.family == "ordinal" else ""
        blocks.append(
            markdown_table(
                _grid_table(part, "term"),
                caption=f"{spec.name}: estimated marginal means `{emm_spec.specs}` (emmeans{scale}).",
                label=label,
            )
        )
        cpart = con[con["index"] == k] if con is not None else pd.DataFrame()
        if cpart.empty:
            continue
        adjust = _text(cpart["adjust"].iloc[0]) or "none"
        method = emm_spec.contrast_method + (f", control {emm_spec.ref}" if emm_spec.ref else "")
        blocks.append(
            markdown_table(
                _grid_table(cpart, "contrast"),
                caption=f"{spec.name}: contrasts of `{emm_spec.specs}` ({method}; p adjusted: {adjust}).",
                label=f"{label}-contrasts",
            )
        )
    return blocks


def _analysis_block(study: Study, spec: AnalysisSpec, tables: dict[str, pd.DataFrame | None]) -> str:
    from valuesurvey.report.content import markdown_table

    slug = _slug(spec.name)
    parts = [f"### {spec.name} {{#sec-declared-{slug}}}"]
    tidy = _read(study.paths.estimates(spec.name))
    info_rows = _rows(tables["fit_info"], spec.name)
    if tidy is None or info_rows.empty:
        parts.append(f"Not fitted yet: `estimates/{spec.name}.csv` is absent (run `valuesurvey analyze`).")
        return "\n\n".join(parts)
    info = info_rows.iloc[0]
    where = f", rows where `{spec.filter.text}`" if spec.filter.node is not None else ""
    dropped = int(info.get("n_dropped", 0) or 0)
    n_text = f"{int(info['nobs']):,} rows" + (
        f" ({dropped:,} with a missing value left out)" if dropped else ""
    )
    groups = [
        f"{c.removeprefix('n_')} ({int(info[c]):,})"
        for c in info.index
        if c.startswith("n_") and c not in ("n_rows", "n_dropped") and not pd.isna(info[c])
    ]
    family = FAMILY_TEXT[str(info["model"])].format(ddf=study.analysis.ddf, link=spec.link_function)
    parts.append(
        f"Data: {DATA_TEXT[spec.data]}{where}; {n_text}"
        + (f"; grouping factors: {', '.join(groups)}" if groups else "")
        + f". Fitted as {family} (@tbl-declared-{slug}):"
    )
    parts.append(f"`{spec.formula}`")
    if _text(info.get("formula")) and _text(info.get("formula")) != spec.formula:
        parts.append(f"as fitted, with the factors' codes in the random-effect terms: `{info['formula']}`")
    coding = _rows(tables["coding"], spec.name)
    parts.append(_coding_sentence(coding))
    if spec.family == "ordinal":
        parts.append(
            "Ordinal parameterisation (ordinal package): logit P(rating ≤ j) = θj − xβ, so a positive "
            "coefficient means higher ratings; thresholds θj separate adjacent scale points."
        )
    simplification = _rows(tables["simplification"], spec.name)
    if tidy.empty:  # the simplification left no structure: R recorded why, there is nothing to tabulate
        parts.append(_not_fitted_sentence(info, simplification))
        return "\n\n".join(p for p in parts if p)
    parts.append(_fit_sentences(info, simplification, spec))
    caption = f"{spec.name}: {'coefficients and thresholds' if spec.family == 'ordinal' else 'fixed effects'} of `{spec.formula}`."
    parts.append(
        markdown_table(
            _estimates_table(tidy, coding, spec.name), caption=caption, label=f"tbl-declared-{slug}"
        )
    )
    parts.extend(_emmeans_blocks(study, spec))
    return "\n\n".join(p for p in parts if p)


def declared_section(study: Study) -> str:
    """Markdown for the declared analyses (a ``##`` section), or ``""`` when the study declares none."""
    if not study.analyses:
        return ""
    tables = {
        key: _read(study.paths.estimates(f"declared_{key}"))
        for key in ("fit_info", "coding", "simplification")
    }
    names = ", ".join(f"`{spec.name}`" for spec in study.analyses)
    intro = (
        f"## {HEADING} {{#sec-declared}}\n\n"
        f"The study declares {len(study.analyses)} analys{'is' if len(study.analyses) == 1 else 'es'} of its "
        f"own ({names}), each fitted in R as written in `study.yaml` (its random effects simplified only "
        "where it says `simplify: true`, every step recorded) on the rows it selects; "
        "`Rscript R/run_models.R` fits them again from the exported rows in `analyses/`."
    )
    return "\n\n".join([intro, *(_analysis_block(study, spec, tables) for spec in study.analyses)]) + "\n"
