"""pandas <-> R data.frame, column by column through numpy buffers.

rpy2's own pandas converter walks the frame element by element (about 14 s for a million rows); here
each column crosses as one memory copy:

=========================  ==========================  =========================================
pandas dtype               R type                      back to pandas
=========================  ==========================  =========================================
float32/float64            double (NaN -> NA_real_)    float64 (NA and NaN -> NaN)
int8..int64, uint8..32     integer (range-checked)     int64, or Int64 when it holds NA
Int8..Int64 (nullable)     integer (<NA> -> NA)        int64, or Int64 when it holds NA
bool                       logical                     bool, or boolean when it holds NA
boolean (nullable)         logical (<NA> -> NA)        bool, or boolean when it holds NA
category                   factor, same levels/order   category, same levels/order
object/string              factor, sorted levels       category (R factor)
=========================  ==========================  =========================================

R character vectors come back as object columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import rpy2.rinterface as ri

from valuesurvey.errors import DataError

__all__ = ["frame_from_r", "frame_to_r", "from_r", "to_r"]

INT32_MIN = np.iinfo(np.int32).min  # R's NA_integer_ and NA logical
INT32_MAX = np.iinfo(np.int32).max
# R's NA_real_ is a NaN whose low word is 1954; a plain NaN would reach R as NaN, not NA.
NA_REAL_BITS = np.uint64(0x7FF00000000007A2)


def _from_buffer(vector_class: type, data: np.ndarray) -> ri.Sexp:
    # from_memoryview cannot take an empty buffer
    return vector_class.from_memoryview(memoryview(data)) if data.size else vector_class([])


def _buffer(vector: ri.Sexp, dtype: type) -> np.ndarray:
    return np.frombuffer(vector.memoryview(), dtype=dtype).copy() if len(vector) else np.empty(0, dtype)


def _float_vector(values: np.ndarray) -> ri.FloatSexpVector:
    data = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(data)
    if missing.any():
        data = data.copy()
        data.view(np.uint64)[missing] = NA_REAL_BITS
    return _from_buffer(ri.FloatSexpVector, data)


def _int32_with_na(values: np.ndarray, missing: np.ndarray | None, name: str) -> np.ndarray:
    if values.size:
        present = values if missing is None else values[~missing]
        if present.size and (present.min() < INT32_MIN + 1 or present.max() > INT32_MAX):
            raise DataError(
                "integer values exceed R's 32-bit integer range; convert the column to float first",
                column=name,
            )
    data = values.astype(np.int32)
    if missing is not None and missing.any():
        data[missing] = INT32_MIN
    return np.ascontiguousarray(data)


def _factor(codes: np.ndarray, levels: list[str]) -> ri.IntSexpVector:
    data = codes.astype(np.int32) + 1  # R factors count from 1; pandas uses -1 for missing
    data[codes < 0] = INT32_MIN
    vector = _from_buffer(ri.IntSexpVector, np.ascontiguousarray(data))
    vector.do_slot_assign("levels", ri.StrSexpVector([str(level) for level in levels]))
    return _with_class(vector, "factor")


def _with_class(value: ri.Sexp, name: str) -> ri.Sexp:
    # `class<-` (unlike a plain attribute write) also marks the value as an object, which R's internal
    # dispatch (nrow, inherits, is.factor) requires.
    return ri.baseenv["class<-"](value, ri.StrSexpVector([name]))


def _column_to_r(series: pd.Series) -> ri.Sexp:
    name = str(series.name)
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _factor(series.cat.codes.to_numpy(), list(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        missing = series.isna().to_numpy()
        values = series.to_numpy(dtype=np.int32, na_value=0)
        data = _int32_with_na(values, missing, name)
        return _from_buffer(ri.BoolSexpVector, data)
    if pd.api.types.is_integer_dtype(dtype):
        missing = series.isna().to_numpy() if isinstance(dtype, pd.api.extensions.ExtensionDtype) else None
        values = series.to_numpy(dtype=np.int64, na_value=0)
        return _from_buffer(ri.IntSexpVector, _int32_with_na(values, missing, name))
    if pd.api.types.is_float_dtype(dtype):
        return _float_vector(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_string_dtype(dtype):
        if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            raise DataError("object column holds non-string values; cannot send it to R", column=name)
        categorical = pd.Categorical(series)
        return _factor(categorical.codes, list(categorical.categories))
    raise DataError(f"dtype {dtype} has no R counterpart in the bridge", column=name)


def frame_to_r(frame: pd.DataFrame) -> ri.ListSexpVector:
    """Convert a DataFrame into an R data.frame, one buffer copy per column.

    >>> import pandas as pd
    >>> from valuesurvey.rbridge._convert import frame_from_r, frame_to_r
    >>> df = pd.DataFrame({"x": [1.5, None], "g": pd.Categorical(["b", "a"], categories=["b", "a"])})
    >>> back = frame_from_r(frame_to_r(df))
    >>> list(back["g"].cat.categories), back["x"].isna().tolist()
    (['b', 'a'], [False, True])
    """
    names = [str(column) for column in frame.columns]
    if len(set(names)) != len(names):
        raise DataError(f"duplicated column names cannot cross to R: {names}")
    columns = [_column_to_r(frame[column]) for column in frame.columns]
    result = ri.ListSexpVector(columns)
    result.do_slot_assign("names", ri.StrSexpVector(names))
    # Compact row names c(NA, -n): what data.frame() itself stores.
    result.do_slot_assign("row.names", ri.IntSexpVector([INT32_MIN, -len(frame)]))
    return _with_class(result, "data.frame")


def _classes(vector: ri.Sexp) -> tuple[str, ...]:
    try:
        return tuple(vector.rclass)
    except (AttributeError, TypeError):
        return ()


def _vector_to_numpy(vector: ri.Sexp, name: str) -> Any:
    kind = vector.typeof
    if kind == ri.RTYPES.REALSXP:
        return _buffer(vector, np.float64)
    if kind == ri.RTYPES.INTSXP:
        codes = _buffer(vector, np.int32)
        missing = codes == INT32_MIN
        if "factor" in _classes(vector):
            levels = list(vector.do_slot("levels"))
            codes = codes - 1
            codes[missing] = -1
            return pd.Categorical.from_codes(codes, categories=levels, ordered="ordered" in _classes(vector))
        if missing.any():
            return pd.arrays.IntegerArray(codes.astype(np.int64), missing)
        return codes.astype(np.int64)
    if kind == ri.RTYPES.LGLSXP:
        raw = _buffer(vector, np.int32)
        missing = raw == INT32_MIN
        if missing.any():
            return pd.arrays.BooleanArray(raw != 0, missing)
        return raw != 0
    if kind == ri.RTYPES.STRSXP:
        values = np.empty(len(vector), dtype=object)
        for index, value in enumerate(vector):
            values[index] = None if value is ri.NA_Character else value
        return values
    raise DataError(f"R column type {kind} cannot be converted to pandas", column=name)


def frame_from_r(frame: ri.ListSexpVector) -> pd.DataFrame:
    """Convert an R data.frame into a DataFrame (see the module table for types)."""
    names = list(frame.do_slot("names"))
    columns = {name: _vector_to_numpy(column, name) for name, column in zip(names, frame, strict=True)}
    return pd.DataFrame(columns)


def to_r(value: Any) -> ri.Sexp:
    """Convert a Python argument for an R call: frames, scalars, sequences, mappings, None."""
    if value is None:
        return ri.NULL
    if isinstance(value, ri.Sexp):
        return value
    if isinstance(value, pd.DataFrame):
        return frame_to_r(value)
    if isinstance(value, pd.Series):
        return _column_to_r(value)
    if isinstance(value, bool | np.bool_):
        return ri.BoolSexpVector([bool(value)])
    if isinstance(value, int | np.integer):
        return ri.IntSexpVector([int(value)])
    if isinstance(value, float | np.floating):
        return _float_vector(np.array([value], dtype=np.float64))
    if isinstance(value, str):
        return ri.StrSexpVector([value])
    if isinstance(value, Mapping):
        result = ri.ListSexpVector([to_r(item) for item in value.values()])
        result.do_slot_assign("names", ri.StrSexpVector([str(key) for key in value]))
        return result
    if isinstance(value, list | tuple | np.ndarray):
        return _column_to_r(pd.Series(list(value) if not isinstance(value, np.ndarray) else value))
    raise TypeError(f"cannot convert {type(value).__name__} to R")


def from_r(value: ri.Sexp) -> Any:
    """Convert an R result: data.frame -> DataFrame, named list -> dict, vectors -> scalar or array."""
    if value is ri.NULL or value.typeof == ri.RTYPES.NILSXP:
        return None
    if value.typeof == ri.RTYPES.VECSXP:
        if "data.frame" in _classes(value):
            return frame_from_r(value)
        names = value.do_slot("names") if "names" in value.list_attrs() else None
        items = [from_r(item) for item in value]
        if names is None:
            return items
        return dict(zip(list(names), items, strict=True))
    converted = _vector_to_numpy(value, "(result)")
    if len(converted) == 1:
        item = converted[0]
        return item.item() if isinstance(item, np.generic) else item
    return converted
