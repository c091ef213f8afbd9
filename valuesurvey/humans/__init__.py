"""Human microdata: WVS-7 and MFQ-2 files from SPSS, Stata, CSV and R, validated, as humans tables.

::

    load_wvs7(path, countries=("CHN", "USA"))     WVS-7 release (.sav, .dta, .csv, .rds), v5 and v6
    load_mfq2(path, mapping=None)                 MFQ-2: OSF Study-2 CSV, or any layout via a YAML mapping
    load_item_responses(path, instrument)         any rating instrument: country + one column per item id
    prepare_study_humans(study)                   the stage: humans/<instrument>.parquet + load report
    synthetic.write_synthetic_files(out_dir)      the SYNTHETIC files shipped in data/synthetic/

Each loader returns :class:`HumanData`: the long humans table (participant, nationality, item,
rating, weight), one row per respondent, a :class:`LoadReport` and the file's labels. Errors are
:class:`valuesurvey.errors.DataError` naming the file and column.
"""

from valuesurvey.humans._prepare import load_spec, prepare_study_humans
from valuesurvey.humans._report import HUMANS_COLUMNS, CountryCounts, HumanData, LoadReport
from valuesurvey.humans.items import load_item_responses
from valuesurvey.humans.mfq import ColumnMapping, load_mapping, load_mfq2, study2_mapping
from valuesurvey.humans.wvs import WVS7_ITEMS, load_wvs7

__all__ = [
    "HUMANS_COLUMNS",
    "WVS7_ITEMS",
    "ColumnMapping",
    "CountryCounts",
    "HumanData",
    "LoadReport",
    "load_item_responses",
    "load_mapping",
    "load_mfq2",
    "load_spec",
    "load_wvs7",
    "prepare_study_humans",
    "study2_mapping",
]
