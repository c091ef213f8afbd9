"""``analyses:`` in study.yaml: named lme4 / ordinal analyses, validated when the study is loaded.

Every check here runs without data: the formula's and the filter's columns against the columns the
table will have (:data:`~valuesurvey.analyses._tables.TABLE_COLUMNS`), the family against the data,
the coding against the formula, the emmeans specs against the formula. A bad value fails with the
field and the valid choices (``study.yaml: field analyses.1.family: ...``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from valuesurvey.analyses._formula import Formula, parse_formula
from valuesurvey.analyses._tables import DATA_KINDS, NUMERIC, TABLE_COLUMNS
from valuesurvey.analyses._where import Where, WhereError, parse_where

__all__ = [
    "ADJUSTMENTS",
    "CODING_SCHEMES",
    "CONTRAST_METHODS",
    "FAMILIES",
    "AnalysisSpec",
    "EmmeansSpec",
    "FactorCoding",
    "check_analysis_names",
]

FAMILIES = ("gaussian", "ordinal")
#: Which data each family can model.
FAMILY_DATA = {"gaussian": DATA_KINDS, "ordinal": ("ratings",)}
LINKS = ("logit", "probit", "cloglog", "loglog", "cauchit")
CODING_SCHEMES = ("half_sum", "sum", "treatment")
CONTRAST_METHODS = (
    "pairwise", "revpairwise", "trt.vs.ctrl", "trt.vs.ctrlk", "consec", "poly", "eff", "del.eff", "none",
)  # fmt: skip
ADJUSTMENTS = (
    "none", "tukey", "holm", "bonferroni", "sidak", "scheffe", "hochberg", "hommel", "BH", "BY", "fdr",
    "mvt", "dunnettx",
)  # fmt: skip
ORDINAL_MODES = ("latent", "linear.predictor", "cum.prob", "exc.prob", "prob", "mean.class")
#: File names the analysis stage writes in estimates/ besides the declared analyses' own.
RESERVED_NAMES = ("fit_info", "random_effects", "coding", "simplification")
RESERVED_PREFIXES = ("rq1", "rq2", "rq3", "table2_", "simple_effects_", "ranking_", "declared_")
OUTPUT_SUFFIXES = ("_emmeans", "_contrasts")


def _either(choices: tuple[str, ...]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactorCoding(_Strict):
    """How one factor enters the model (what R/fit.R's ``vs_coding`` takes)."""

    variable: str
    scheme: Literal["half_sum", "sum", "treatment"]
    level: str | None = None

    @property
    def r_scheme(self) -> str:
        return "contr_sum" if self.scheme == "sum" else self.scheme

    def describe(self) -> str:
        """``half_sum: CN = +0.5`` style text for the report.

        >>> FactorCoding(variable="origin", scheme="half_sum", level="CN").describe()
        'half-sum, CN = +0.5, the other level −0.5'
        """
        if self.scheme == "half_sum":
            return f"half-sum, {self.level} = +0.5, the other level −0.5"
        if self.scheme == "treatment":
            return f"treatment, reference {self.level}"
        return "sum-to-zero (R's contr.sum)"


def _coding_entry(variable: str, value: Any) -> FactorCoding:
    hint = (
        f"coding.{variable}: write {{half_sum: LEVEL}} (LEVEL = +0.5), {{treatment: LEVEL}} "
        f"(LEVEL is the reference) or sum; schemes are {', '.join(CODING_SCHEMES)}"
    )
    if isinstance(value, str):
        if value != "sum":
            raise ValueError(f"{hint}, not {value!r}")
        return FactorCoding(variable=variable, scheme="sum")
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(hint)
    ((scheme, level),) = value.items()
    if scheme not in CODING_SCHEMES:
        raise ValueError(f"{hint}, not {scheme!r}")
    if scheme == "sum":
        if level not in (None, ""):
            raise ValueError(f"coding.{variable}: sum coding takes no level (write just: sum)")
        return FactorCoding(variable=variable, scheme="sum")
    if level is None or isinstance(level, dict | list) or str(level) == "":
        raise ValueError(f"coding.{variable}: {scheme} needs a level, e.g. {{{scheme}: CN}}")
    if isinstance(level, bool):
        raise ValueError(
            f"coding.{variable}: YAML read the level as {str(level).lower()}: quote it, e.g. {{{scheme}: 'yes'}}"
        )
    return FactorCoding(variable=variable, scheme=scheme, level=str(level))


class EmmeansSpec(_Strict):
    """One ``emmeans`` call on the fitted model, and the contrasts of its estimates."""

    specs: str = Field(..., description="emmeans specs, e.g. '~ origin | language'")
    contrasts: str | dict[str, list[float]] = Field(
        "pairwise", description="an emmeans contrast method, none, or named coefficient vectors"
    )
    ref: str | None = Field(None, description="trt.vs.ctrl: the control level (default: the first level)")
    adjust: str | None = Field(None, description="p-value adjustment of the contrasts (default: emmeans')")
    mode: str | None = Field(None, description="ordinal models: the scale of the estimates (default latent)")

    @field_validator("specs")
    @classmethod
    def _specs(cls, value: str) -> str:
        text = value.strip()
        body = text[1:].strip() if text.startswith("~") else text
        factors = r"[A-Za-z.][A-Za-z0-9._]*(\s*[*+:]\s*[A-Za-z.][A-Za-z0-9._]*)*"
        if not re.fullmatch(rf"{factors}(\s*\|\s*{factors})?", body):
            raise ValueError(
                f"{value!r} is not an emmeans spec: write factors, optionally | by-factors, "
                "e.g. '~ origin | language'"
            )
        return f"~ {body}"

    @field_validator("contrasts")
    @classmethod
    def _contrasts(cls, value: str | dict[str, list[float]]) -> str | dict[str, list[float]]:
        if isinstance(value, str):
            if value not in CONTRAST_METHODS:
                raise ValueError(
                    f"{value!r} is not a contrast method; choose from {', '.join(CONTRAST_METHODS)}, "
                    "or give named coefficient vectors such as {cn_minus_us: [1, -1]}"
                )
            return value
        if not value:
            raise ValueError("give at least one named coefficient vector, or a method such as pairwise")
        for name, weights in value.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", name):
                raise ValueError(f"contrast name {name!r}: use letters, digits, _ and .")
            if len(weights) < 2:
                raise ValueError(f"contrast {name}: needs one coefficient per estimate (at least 2)")
        return value

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("contrasts") != "trt.vs.ctrl":
            raise ValueError("ref names the control level of contrasts: trt.vs.ctrl")
        return value

    @field_validator("adjust")
    @classmethod
    def _adjust(cls, value: str | None) -> str | None:
        if value is not None and value not in ADJUSTMENTS:
            raise ValueError(f"{value!r} is not an adjustment; choose from {', '.join(ADJUSTMENTS)}")
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str | None) -> str | None:
        if value is not None and value not in ORDINAL_MODES:
            raise ValueError(f"{value!r} is not an ordinal mode; choose from {', '.join(ORDINAL_MODES)}")
        return value

    @property
    def factors(self) -> list[str]:
        return re.findall(r"[A-Za-z.][A-Za-z0-9._]*", self.specs)

    @property
    def contrast_method(self) -> str:
        return self.contrasts if isinstance(self.contrasts, str) else "custom"


class AnalysisSpec(_Strict):
    """One analysis declared in study.yaml (docs/study-yaml.md, ``analyses``)."""

    name: str = Field(..., description="names estimates/<name>.csv")
    data: Literal["similarity", "ratings", "rankings"]
    where: str | dict[str, Any] | None = Field(None, description="row filter (expression or mapping)")
    formula: str = Field(..., description="lme4 formula, random effects included")
    family: Literal["gaussian", "ordinal"] = Field("gaussian", validate_default=True)
    link: Literal["logit", "probit", "cloglog", "loglog", "cauchit"] | None = None
    coding: dict[str, Any] = Field(default_factory=dict, description="per factor: half_sum, sum, treatment")
    simplify: bool = Field(
        False, description="simplify a singular or non-converged fit by the recorded sequence"
    )
    emmeans: tuple[EmmeansSpec, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError(f"{value!r}: a name is lower-case letters, digits and _, starting with a letter")
        if value in RESERVED_NAMES or value.startswith(RESERVED_PREFIXES) or value.endswith(OUTPUT_SUFFIXES):
            raise ValueError(
                f"{value!r} would clash with the analysis stage's own files in estimates/: a name may not be "
                f"{', '.join(RESERVED_NAMES)}, start with {', '.join(RESERVED_PREFIXES)} or end with "
                f"{', '.join(OUTPUT_SUFFIXES)}"
            )
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: str | dict[str, Any] | None, info: ValidationInfo) -> str | dict[str, Any] | None:
        try:
            parsed = parse_where(value)
            if "data" in info.data:
                parsed.check_columns(list(TABLE_COLUMNS[info.data["data"]]), info.data["data"])
        except WhereError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("formula")
    @classmethod
    def _formula(cls, value: str, info: ValidationInfo) -> str:
        formula = parse_formula(value)
        if "data" in info.data:
            kind = info.data["data"]
            columns = list(TABLE_COLUMNS[kind])
            unknown = [v for v in formula.variables if v not in columns]
            if unknown:
                raise ValueError(
                    f"column {unknown[0]!r} is not in the {kind} table; columns are: {', '.join(columns)}"
                )
        return value

    @field_validator("family")
    @classmethod
    def _family(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("data")
        if kind is None:
            return value
        if kind not in FAMILY_DATA[value]:
            allowed = "; ".join(f"{family} with {_either(data)}" for family, data in FAMILY_DATA.items())
            raise ValueError(f"family {value} cannot model data {kind}; allowed combinations: {allowed}")
        if "formula" in info.data:
            response = parse_formula(info.data["formula"]).response
            if value == "ordinal" and response != "rating":
                raise ValueError(
                    f"family ordinal models the Likert rating: the response must be rating, not {response}"
                )
            if value == "gaussian" and response not in NUMERIC[kind]:
                raise ValueError(
                    f"family gaussian needs a numeric response; numeric columns of the {kind} table are: "
                    f"{', '.join(NUMERIC[kind])}"
                )
        return value

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("family") == "gaussian":
            raise ValueError("link is for family ordinal (logit, probit, cloglog, loglog, cauchit)")
        return value

    @field_validator("coding")
    @classmethod
    def _coding(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        variables = parse_formula(info.data["formula"]).variables if "formula" in info.data else None
        for variable, choice in value.items():
            _coding_entry(variable, choice)
            if variables is not None and variable not in variables:
                raise ValueError(
                    f"coding.{variable}: the formula does not use {variable!r}; it uses {', '.join(variables)}"
                )
        return value

    @field_validator("simplify")
    @classmethod
    def _simplify(cls, value: bool, info: ValidationInfo) -> bool:
        if value and "formula" in info.data and not parse_formula(info.data["formula"]).has_random:
            raise ValueError("simplify needs random effects in the formula, e.g. (1 | model)")
        return value

    @model_validator(mode="after")
    def _emmeans_factors(self) -> AnalysisSpec:
        variables = list(self.parsed_formula.variables[1:])
        for k, spec in enumerate(self.emmeans):
            # emmeans' modes prob/cum.prob/exc.prob add the response (or "cut") as a factor of the grid
            extra = (
                [self.parsed_formula.response, "cut"] if spec.mode in ("prob", "cum.prob", "exc.prob") else []
            )
            unknown = [f for f in spec.factors if f not in [*variables, *extra]]
            if unknown:
                raise ValueError(
                    f"emmeans.{k}.specs: {unknown[0]!r} is not a predictor of the formula; "
                    f"it uses {', '.join(variables)}"
                )
            if spec.mode is not None and self.family != "ordinal":
                raise ValueError(f"emmeans.{k}.mode is for family ordinal ({', '.join(ORDINAL_MODES)})")
        return self

    # ---- derived ----------------------------------------------------------------------------
    @property
    def parsed_formula(self) -> Formula:
        return parse_formula(self.formula)

    @property
    def filter(self) -> Where:
        return parse_where(self.where)

    @property
    def codings(self) -> list[FactorCoding]:
        return [_coding_entry(variable, value) for variable, value in self.coding.items()]

    @property
    def link_function(self) -> str:
        return self.link or "logit"

    @property
    def method(self) -> str:
        """The R fitting function: lm, lmer (lmerTest), clm or clmm (ordinal)."""
        random = self.parsed_formula.has_random
        if self.family == "gaussian":
            return "lmer" if random else "lm"
        return "clmm" if random else "clm"


def check_analysis_names(analyses: tuple[AnalysisSpec, ...]) -> tuple[AnalysisSpec, ...]:
    """Names are unique (each names files in estimates/)."""
    seen: set[str] = set()
    for spec in analyses:
        if spec.name in seen:
            raise ValueError(f"analysis name {spec.name!r} appears twice; each names estimates/<name>.csv")
        seen.add(spec.name)
    return analyses
