"""The humans stage of a study: load each file named in study.yaml, write the humans tables."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from valuesurvey import _io
from valuesurvey.errors import ConfigError
from valuesurvey.humans._report import HumanData
from valuesurvey.humans.items import load_item_responses
from valuesurvey.humans.mfq import load_mfq2
from valuesurvey.humans.wvs import load_wvs7
from valuesurvey.study import HumanDataSpec, Study

__all__ = ["load_spec", "prepare_study_humans"]

log = logging.getLogger(__name__)


def load_spec(study: Study, instrument: str, spec: HumanDataSpec) -> HumanData:
    """Load the file a study names for ``instrument`` (relative paths resolved against the study).

    With ``weights`` set, the file must have that weight column: the analysis would otherwise be
    silently unweighted.
    """
    data = _load(study, instrument, spec)
    if spec.weighted:
        found = data.report.weight_column
        if found is None or found.casefold() != spec.weights.casefold():
            valid = ", ".join(["none", *([found] if found else [])])
            raise ConfigError(
                f"study.yaml: field humans.{instrument}.weights: {spec.weights!r} is not the weight column "
                f"of {data.report.file}; valid choices: {valid}"
            )
    return data


def study_countries(study: Study, spec: HumanDataSpec) -> tuple[str, ...] | str:
    """The countries to load: ``humans.<i>.countries`` (codes or ``all``), else the study's countries."""
    return study.design.codes if spec.countries is None else spec.countries


def _load(study: Study, instrument: str, spec: HumanDataSpec) -> HumanData:
    path = study.resolve(spec.path)
    countries = study_countries(study, spec)
    if spec.format == "items":
        if spec.mapping is not None:
            raise ConfigError(
                f"study.yaml: field humans.{instrument}.mapping: format items reads the columns by item id"
            )
        from valuesurvey import instruments

        inst = instruments.for_study(study)[instrument]
        return load_item_responses(path, inst, countries=countries, synthetic=spec.synthetic)
    if instrument == "wvs7":
        if spec.mapping is not None:
            raise ConfigError(
                f"study.yaml: field humans.{instrument}.mapping: WVS-7 files use their own layout"
            )
        return load_wvs7(path, countries, format=spec.format, synthetic=spec.synthetic)
    if instrument == "mfq2":
        mapping = study.resolve(spec.mapping) if spec.mapping is not None else None
        return load_mfq2(
            path, mapping=mapping, countries=countries, format=spec.format, synthetic=spec.synthetic
        )
    raise ConfigError(
        f"study.yaml: field humans.{instrument}.format: no layout-specific loader for {instrument!r} "
        "(wvs7, mfq2); write format: items for a file with a country column and one column per item id"
    )


def prepare_study_humans(study: Study) -> dict[str, Path]:
    """Write ``humans/<instrument>.parquet`` and ``humans/<instrument>_load_report.json`` for each file.

    Every file is loaded and validated before anything is written, so a bad file leaves the study
    directory as it was.

    Parameters
    ----------
    study : Study
        A study loaded with :func:`valuesurvey.study.load_study`.

    Returns
    -------
    dict of str to Path
        Instrument id -> the humans table written.
    """
    started = time.perf_counter()
    loaded = {instrument: load_spec(study, instrument, spec) for instrument, spec in study.humans.items()}
    written: dict[str, Path] = {}
    for instrument, data in loaded.items():
        table_path = study.paths.humans(instrument)
        _io.write_parquet(table_path, data.table)
        _io.write_json(study.paths.humans_dir / f"{instrument}_load_report.json", data.report.to_dict())
        written[instrument] = table_path
        log.info("humans %s: %d respondents from %s", instrument, len(data.respondents), data.report.file)
        for warning in data.report.warnings:
            log.warning("humans %s: %s", instrument, warning)
    _record(study, loaded, written, time.perf_counter() - started)
    return written


def _record(study: Study, loaded: dict[str, HumanData], written: dict[str, Path], seconds: float) -> None:
    try:
        from valuesurvey.manifest import record_stage
    except ImportError:  # the manifest module is optional for this stage
        return
    inputs: dict[str, object] = {}
    for instrument, spec in study.humans.items():
        inputs[f"{instrument}_file"] = study.resolve(spec.path)
        inputs[f"{instrument}_spec"] = spec.model_dump(mode="json")
        if spec.mapping is not None:
            inputs[f"{instrument}_mapping"] = study.resolve(spec.mapping)
    outputs = [p for i, t in written.items() for p in (t, study.paths.humans_dir / f"{i}_load_report.json")]
    record_stage(
        study,
        "humans",
        inputs=inputs,
        outputs=outputs,
        seconds=seconds,
        extra={
            i: {
                "synthetic": d.report.synthetic,
                "respondents": len(d.respondents),
                "complete": d.report.complete,
            }
            for i, d in loaded.items()
        },
    )
