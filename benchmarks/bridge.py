"""The R bridge vs rpy2's pandas converter on the same 1,000,000-row frame.

Frame: 3 numeric columns (two float, one int, with NAs) and 2 categorical (5,000 and 20 levels).
Prints each direction's time for both converters and the ratios. Targets: our pandas -> R under 1 s and at
least 15x faster than rpy2's converter.

    .venv/bin/python benchmarks/bridge.py [--rows N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def make_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cosine = rng.normal(0.3, 0.2, rows)
    cosine[rng.random(rows) < 0.01] = np.nan
    return pd.DataFrame(
        {
            "cosine": cosine,
            "weight": rng.gamma(2.0, 0.5, rows),
            "rep": rng.integers(0, 20, rows).astype(np.int64),
            "participant": pd.Categorical.from_codes(
                rng.integers(0, 5000, rows), categories=[f"p{i:05d}" for i in range(5000)]
            ),
            "model": pd.Categorical.from_codes(
                rng.integers(0, 20, rows), categories=[f"model-{i:02d}" for i in range(20)]
            ),
        }
    )


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from rpy2 import robjects
    from rpy2.robjects import pandas2ri

    from valuesurvey.rbridge import frame_from_r, frame_to_r

    frame = make_frame(args.rows)
    ours_to, r_frame = best_of(lambda: frame_to_r(frame), 3)
    ours_back, back = best_of(lambda: frame_from_r(r_frame), 3)
    pd.testing.assert_frame_equal(back, frame, check_dtype=True)

    converter = robjects.default_converter + pandas2ri.converter
    with converter.context():
        theirs_to, r_frame2 = best_of(lambda: robjects.conversion.get_conversion().py2rpy(frame), 1)
        theirs_back, _ = best_of(lambda: robjects.conversion.get_conversion().rpy2py(r_frame2), 1)

    print(f"rows: {args.rows:,}; columns: 3 numeric, 2 categorical (5,000 and 20 levels)")
    print(f"{'direction':<14}{'valuesurvey (s)':>17}{'rpy2 pandas2ri (s)':>21}{'ratio':>9}")
    print(f"{'pandas -> R':<14}{ours_to:>17.3f}{theirs_to:>21.3f}{theirs_to / ours_to:>8.1f}x")
    print(f"{'R -> pandas':<14}{ours_back:>17.3f}{theirs_back:>21.3f}{theirs_back / ours_back:>8.1f}x")
    total_ours, total_theirs = ours_to + ours_back, theirs_to + theirs_back
    print(f"{'round trip':<14}{total_ours:>17.3f}{total_theirs:>21.3f}{total_theirs / total_ours:>8.1f}x")
    verdict = "PASS" if ours_to < 1.0 and theirs_to / ours_to >= 15 else "FAIL"
    print(f"target pandas -> R < 1 s and >= 15x: {verdict}")


if __name__ == "__main__":
    main()
