"""Round trips pandas -> R -> pandas for every column type, checked inside R as well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuesurvey.errors import DataError
from valuesurvey.rbridge import frame_from_r, frame_to_r


@pytest.fixture
def every_type() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "double": [1.5, np.nan, -2.25, 1e300],
            "integer": np.array([1, -7, 0, 2_000_000_000], dtype=np.int64),
            "nullable_int": pd.array([1, None, 3, -4], dtype="Int64"),
            "logical": [True, False, True, False],
            "nullable_bool": pd.array([True, None, False, True], dtype="boolean"),
            "category": pd.Categorical(["US", "CN", None, "US"], categories=["US", "CN", "XX"]),
            "string": ["b", None, "a", "中文"],
        }
    )


def test_round_trip_keeps_values_types_and_level_order(r_session, every_type):
    back = frame_from_r(frame_to_r(every_type))
    assert list(back.columns) == list(every_type.columns)
    np.testing.assert_array_equal(back["double"].to_numpy(), every_type["double"].to_numpy())
    assert back["integer"].dtype == np.int64
    assert back["integer"].tolist() == [1, -7, 0, 2_000_000_000]
    assert str(back["nullable_int"].dtype) == "Int64"
    assert back["nullable_int"].isna().tolist() == [False, True, False, False]
    assert back["logical"].dtype == bool
    assert str(back["nullable_bool"].dtype) == "boolean"
    assert back["nullable_bool"].isna().tolist() == [False, True, False, False]
    assert list(back["category"].cat.categories) == ["US", "CN", "XX"]
    assert back["category"].isna().tolist() == [False, False, True, False]
    assert list(back["string"].cat.categories) == ["a", "b", "中文"]
    assert back["string"].astype(object).where(back["string"].notna(), None).tolist() == [
        "b",
        None,
        "a",
        "中文",
    ]


def test_r_sees_proper_types_and_na(r_session, every_type):
    result = r_session.call_code(
        "function(d) list(classes = vapply(d, function(x) class(x)[1], ''),"
        " n_na = vapply(d, function(x) sum(is.na(x)), 0L), nrow = nrow(d),"
        " levels = levels(d$category), nan_is_na = is.na(d$double[2]) && !is.nan(d$double[2]))",
        every_type,
    )
    assert list(result["classes"]) == [
        "numeric",
        "integer",
        "integer",
        "logical",
        "logical",
        "factor",
        "factor",
    ]
    assert list(result["n_na"]) == [1, 0, 1, 0, 1, 1, 1]
    assert result["nrow"] == 4
    assert list(result["levels"]) == ["US", "CN", "XX"]
    assert result["nan_is_na"] is True


def test_empty_frame_round_trips(r_session):
    empty = pd.DataFrame({"x": pd.Series([], dtype=float), "g": pd.Categorical([])})
    back = frame_from_r(frame_to_r(empty))
    assert back.shape == (0, 2)


def test_integer_out_of_r_range_is_a_clear_error(r_session):
    with pytest.raises(DataError, match=r"column 'big'.*32-bit"):
        frame_to_r(pd.DataFrame({"big": np.array([2**40], dtype=np.int64)}))


def test_mixed_object_column_is_a_clear_error(r_session):
    with pytest.raises(DataError, match=r"column 'mixed'.*non-string"):
        frame_to_r(pd.DataFrame({"mixed": ["a", 1]}))


def test_starting_r_leaves_child_processes_environment_alone(r_session):
    # rpy2 prepends R's library folders to LD_LIBRARY_PATH; children would then load Debian's libpython.
    import os
    import subprocess
    import sys

    assert "/usr/lib/R/lib" not in os.environ.get("LD_LIBRARY_PATH", "")
    child = subprocess.run([sys.executable, "-c", "import ssl"], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
