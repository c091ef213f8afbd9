"""Analyses declared in study.yaml: named lme4 / ordinal models of the similarity, ratings or
rankings table, fitted in R with the same tidy outputs, fit facts and recorded simplification as
RQ1–RQ3 (``docs/study-yaml.md``, ``analyses``).

.. code-block:: yaml

    analyses:
      - name: ratings_origin
        data: ratings
        where: instrument == 'mfq2' and persona == 'none'
        formula: rating ~ origin * language + (1 + language | model) + (1 | item)
        family: ordinal
        coding: {origin: {half_sum: CN}, language: {half_sum: zh}}
        emmeans:
          - {specs: "~ origin | language", contrasts: pairwise, adjust: holm}

``run_declared_analyses(study)`` (called by the analysis stage) selects each analysis's rows
(:mod:`valuesurvey.analyses._where`: a filter language, never Python's eval), exports them to
``analyses/<name>_rows.csv``, fits them with ``decl_fit`` of ``R/declared.R`` and writes
``estimates/<name>.csv``, ``<name>_emmeans.csv``, ``<name>_contrasts.csv`` and
``estimates/declared_{fit_info,random_effects,coding,simplification}.csv``.
``Rscript R/run_models.R STUDY_DIR`` fits them again from the exported rows.

>>> from valuesurvey.analyses import AnalysisSpec
>>> spec = AnalysisSpec(name="sim", data="similarity", where={"removed": "none"},
...                     formula="cosine ~ nationality * origin + (1 | participant) + (1 | model)")
>>> spec.method, spec.filter.text
('lmer', "removed in ['none']")
"""

from valuesurvey.analyses._formula import Formula, parse_formula
from valuesurvey.analyses._run import DeclaredFit, declared_dir, fit_declared, run_declared_analyses
from valuesurvey.analyses._spec import (
    ADJUSTMENTS,
    CODING_SCHEMES,
    CONTRAST_METHODS,
    FAMILIES,
    AnalysisSpec,
    EmmeansSpec,
    FactorCoding,
    check_analysis_names,
)
from valuesurvey.analyses._tables import DATA_KINDS, TABLE_COLUMNS, load_table
from valuesurvey.analyses._where import Where, WhereError, parse_where

__all__ = [
    "ADJUSTMENTS",
    "CODING_SCHEMES",
    "CONTRAST_METHODS",
    "DATA_KINDS",
    "FAMILIES",
    "TABLE_COLUMNS",
    "AnalysisSpec",
    "DeclaredFit",
    "EmmeansSpec",
    "FactorCoding",
    "Formula",
    "Where",
    "WhereError",
    "check_analysis_names",
    "declared_dir",
    "fit_declared",
    "load_table",
    "parse_formula",
    "parse_where",
    "run_declared_analyses",
]
