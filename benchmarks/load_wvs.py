"""Benchmark: load_wvs7 on a release-size .sav versus a plain full pyreadstat read of the same file.

Builds a SYNTHETIC .sav the size of the WVS-7 cross-national release (97,000 rows x 600 variables,
~470 MB) in a temporary directory, then times

- ``load_wvs7(path)``: reads 23 columns, selects China and the USA, validates, builds the table;
- ``pyreadstat.read_sav(path)``: every column, nothing else (what a naive loader starts with).

Each is run in a fresh child process, so that the timing carries no tracing overhead and the
child's maximum resident set size is that read's peak memory. Prints both timings, the ratio
(target >= 5x) and both peaks.

Usage: ``.venv/bin/python benchmarks/load_wvs.py [--rows 97000] [--columns 600] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

from valuesurvey.humans.synthetic import write_release_size_sav


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    ``VmHWM`` (Linux) belongs to the process image, whereas ``ru_maxrss`` survives ``exec`` and would
    include the parent's peak from before the spawn.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _run(kind: str, path: str, repeat: int, results: multiprocessing.Queue) -> None:
    """In a child process: best seconds over ``repeat`` runs, peak RSS (MB), and a row count."""
    import pyreadstat

    from valuesurvey.humans import load_wvs7

    best = float("inf")
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = len(load_wvs7(path).respondents) if kind == "loader" else len(pyreadstat.read_sav(path)[0])
        best = min(best, time.perf_counter() - started)
    results.put((best, _peak_rss_mb(), rows))


def measure(kind: str, path: Path, repeat: int) -> tuple[float, float, int]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_run, args=(kind, str(path), repeat, results))
    child.start()
    outcome = results.get()
    child.join()
    return outcome


def baseline_rss() -> float:
    """Peak RSS (MB) of a child that only imports the libraries: subtract it to compare reads."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_imports_only, args=(results,))
    child.start()
    outcome = results.get()
    child.join()
    return outcome


def _imports_only(results: multiprocessing.Queue) -> None:
    import pyreadstat  # noqa: F401

    import valuesurvey.humans  # noqa: F401

    results.put(_peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=97_000)
    parser.add_argument("--columns", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="valuesurvey-bench-") as tmp:
        path = Path(tmp) / "SYNTHETIC_wvs7_release_size.sav"
        started = time.perf_counter()
        write_release_size_sav(path, n_rows=args.rows, n_columns=args.columns)
        build = time.perf_counter() - started
        print(
            f"built {path.name}: {args.rows} x {args.columns}, {path.stat().st_size / 1e6:.0f} MB in {build:.1f} s"
        )
        base = baseline_rss()
        loader_s, loader_mb, kept = measure("loader", path, args.repeat)
        full_s, full_mb, rows = measure("full", path, args.repeat)

    print(
        f"load_wvs7 (CHN+USA, 23 of {args.columns} columns): {loader_s:7.2f} s   peak RSS {loader_mb:6.0f} MB"
    )
    print(f"pyreadstat.read_sav (all columns):         {full_s:7.2f} s   peak RSS {full_mb:6.0f} MB")
    print(f"ratio (full read / loader): {full_s / loader_s:.1f}x faster (target >= 5x)")
    print(
        f"peak memory above the imports ({base:.0f} MB): loader {loader_mb - base:.0f} MB, "
        f"full read {full_mb - base:.0f} MB"
    )
    print(f"rows: {rows} in the file, {kept} respondents kept (CHN + USA)")


if __name__ == "__main__":
    main()
