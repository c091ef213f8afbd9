from __future__ import annotations

import os

import pandas as pd
import pytest

from valuesurvey._io import atomic_path, write_csv, write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "estimates.csv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stage failed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["estimates.csv"]


def test_outputs_get_umask_permissions_not_private_ones(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_csv(tmp_path / "table.csv", pd.DataFrame({"a": [1]}))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644
    assert pd.read_csv(path)["a"].tolist() == [1]
