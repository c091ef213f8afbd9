"""lmer through the bridge vs the same model fitted by Rscript from CSV, on the same data.

Model: y ~ x * g + (1 | participant) + (1 | model), crossed random intercepts, lmerTest Satterthwaite,
500,000 rows by default. The bridge time is transfer + fit + tidy in an already-started session (and,
separately, the one-off session start); the Rscript time is the whole `Rscript R/fit.R` run (start, read
CSV, fit, tidy, write). Prints both and the ratio (target <= 1.2), and checks the estimates agree.

    .venv/bin/python benchmarks/lmer_overhead.py [--rows N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FORMULA = "y ~ x * g + (1 | participant) + (1 | model)"


def make_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    participant = rng.integers(0, 5000, rows)
    model = rng.integers(0, 20, rows)
    x = rng.choice(["CN", "US"], rows)
    g = rng.choice(["CN", "US"], rows)
    y = (
        0.3
        - 0.1 * (x == "CN")
        + 0.05 * (g == "CN")
        + rng.normal(0, 0.1, 5000)[participant]
        + rng.normal(0, 0.05, 20)[model]
        + rng.normal(0, 0.2, rows)
    )
    return pd.DataFrame(
        {
            "y": y,
            "x": pd.Categorical(x),
            "g": pd.Categorical(g),
            "participant": pd.Categorical([f"p{i}" for i in participant]),
            "model": pd.Categorical([f"m{i}" for i in model]),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    frame = make_frame(args.rows)

    with tempfile.TemporaryDirectory() as tmp:
        data_csv = Path(tmp) / "data.csv"
        coding_csv = Path(tmp) / "coding.csv"
        frame.to_csv(data_csv, index=False)
        pd.DataFrame({"variable": ["x", "g"], "scheme": "half_sum", "level": "CN"}).to_csv(
            coding_csv, index=False
        )
        start = time.perf_counter()
        subprocess.run(
            [
                "Rscript",
                str(ROOT / "R" / "fit.R"),
                str(data_csv),
                FORMULA,
                "lmer",
                str(coding_csv),
                f"{tmp}/r",
            ],
            check=True,
        )
        rscript_seconds = time.perf_counter() - start
        r_tidy = pd.read_csv(f"{tmp}/r_tidy.csv")

    from valuesurvey.rbridge import Coding, fit_lmer, get_session

    start = time.perf_counter()
    get_session()
    session_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fit = fit_lmer(FORMULA, frame, coding={"x": Coding.half_sum("CN"), "g": Coding.half_sum("CN")})
    bridge_seconds = time.perf_counter() - start

    difference = np.max(np.abs(fit.tidy["estimate"].to_numpy() - r_tidy["estimate"].to_numpy()))
    print(f"rows: {args.rows:,}; model: {FORMULA}")
    print(f"Rscript (start + read CSV + fit + tidy + write): {rscript_seconds:8.2f} s")
    print(f"bridge (transfer + fit + tidy):                  {bridge_seconds:8.2f} s")
    print(f"bridge session start (once per process):          {session_seconds:8.2f} s")
    ratio = bridge_seconds / rscript_seconds
    print(f"ratio bridge / Rscript: {ratio:.2f} (target <= 1.2): {'PASS' if ratio <= 1.2 else 'FAIL'}")
    print(f"largest |estimate difference|: {difference:.2e}")


if __name__ == "__main__":
    main()
