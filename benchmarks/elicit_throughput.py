"""Elicitation throughput: 2,000 requests to a loopback server answering after 100 ms, concurrency 32.

The server (tests/elicit/fault_server.py) runs in its own process; the runner, the SQLite store
(one commit per answer) and the parser are in the loop exactly as in a real run. The bound is
concurrency / latency = 320 requests/s; the target is a ratio of at least 0.9.

    .venv/bin/python benchmarks/elicit_throughput.py [--requests 2000] [--concurrency 32] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _study(root: Path, base_url: str, requests: int, concurrency: int) -> Path:
    # WVS-7 (19 items) × en/zh × 3 personas = 114 cells; repetitions to reach the request count.
    reps = -(-requests // 114)
    data = {
        "name": "throughput",
        "instruments": ["wvs7"],
        "repetitions": reps,
        "models": [
            {
                "id": "loopback",
                "provider": "openai_compatible",
                "api_model": "bench",
                "base_url": base_url,
                "origin": "US",
                "company": "Loopback",
                "max_concurrency": concurrency,
            }
        ],
    }
    (root / "study.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "elicit" / "fault_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        port = int(line.split()[1])
        with tempfile.TemporaryDirectory() as tmp:
            study = load_study(
                _study(Path(tmp), f"http://127.0.0.1:{port}/v1", args.requests, args.concurrency)
            )
            cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            summary = run_elicitation(study, progress=False, limit=args.requests)
            wall = time.perf_counter() - wall0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        server.terminate()
        server.wait(10)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    sent = summary.sent
    bound = args.concurrency / args.latency
    achieved = sent / summary.run_seconds
    print(
        f"requests: {sent} (ok {int(summary.per_model['ok'].sum())}), concurrency {args.concurrency}, "
        f"server latency {args.latency * 1000:.0f} ms, cores {os.cpu_count()}"
    )
    print(
        f"run phase: {summary.run_seconds:.2f} s, {achieved:.1f} req/s; with plan and export: {wall:.2f} s, "
        f"{sent / wall:.1f} req/s"
    )
    print(f"bound: {bound:.0f} req/s; ratio: {achieved / bound:.3f} (target >= 0.9)")
    print(
        f"CPU time in the client process: {cpu:.2f} s, {1000 * cpu / sent:.3f} ms per request "
        f"(run phase alone: {1000 * summary.run_cpu_seconds / sent:.3f} ms per request)"
    )


if __name__ == "__main__":
    main()
