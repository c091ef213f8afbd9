"""Elicitation throughput: 2,000 requests to a loopback server answering after 100 ms, concurrency 32.

The server (tests/elicit/fault_server.py) runs in its own process; the runner, the SQLite store
(one commit per answer) and the parser are in the loop exactly as in a real run. The bound is
concurrency / latency = 320 requests/s; the target is a ratio of at least 0.9.

Side by side against the same server, in one run:

- valuesurvey as shipped (``http_transport: asyncio``, the lean HTTP/1.1 transport);
- valuesurvey on httpx's default transport (``http_transport: httpx``: httpcore over anyio);
- a bare client (asyncio streams, hand-written requests, no store or parser): what the server and
  the operating system allow on this machine, the ceiling for the other two.

    .venv/bin/python benchmarks/elicit_throughput.py [--requests 2000] [--concurrency 32] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _study(root: Path, base_url: str, requests: int, concurrency: int, transport: str) -> Path:
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
                "options": {"http_transport": transport},
            }
        ],
    }
    (root / "study.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return root


def run_valuesurvey(port: int, args: argparse.Namespace, transport: str) -> dict[str, float]:
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    with tempfile.TemporaryDirectory() as tmp:
        base_url = f"http://127.0.0.1:{port}/v1"
        study = load_study(_study(Path(tmp), base_url, args.requests, args.concurrency, transport))
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        summary = run_elicitation(study, progress=False, limit=args.requests)
        wall = time.perf_counter() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    ok = int(summary.per_model["ok"].sum())
    if ok != args.requests:
        raise SystemExit(f"only {ok} of {args.requests} requests answered ok with http_transport={transport}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "rate": summary.sent / summary.run_seconds,
        "seconds": summary.run_seconds,
        "wall_rate": summary.sent / wall,
        "cpu_ms": 1000 * summary.run_cpu_seconds / summary.sent,
        "cpu_ms_total": 1000 * cpu / summary.sent,
    }


async def _bare(port: int, requests: int, concurrency: int) -> dict[str, float]:
    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "x" * 400}]}).encode()
    message = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    left = [requests]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(message)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            json.loads(await reader.readexactly(length))
        writer.close()

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - t0
    return {
        "rate": requests / seconds,
        "seconds": seconds,
        "cpu_ms": 1000 * (time.process_time() - cpu0) / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "elicit" / "fault_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline() if server.stdout else ""
        port = int(line.split()[1])
        ours = run_valuesurvey(port, args, "asyncio")
        reference = run_valuesurvey(port, args, "httpx")
        bare = asyncio.run(_bare(port, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)

    bound = args.concurrency / args.latency
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms, "
        f"bound {bound:.0f} req/s, cores {os.cpu_count()}"
    )
    print(f"{'client':<44} {'run s':>6} {'req/s':>7} {'ratio':>6} {'CPU ms/req':>11}")
    for name, r in (
        ("valuesurvey, lean asyncio transport (default)", ours),
        ("valuesurvey, httpx default transport", reference),
        ("bare asyncio client (no store, no parser)", bare),
    ):
        print(f"{name:<44} {r['seconds']:6.2f} {r['rate']:7.1f} {r['rate'] / bound:6.3f} {r['cpu_ms']:11.3f}")
    print(f"ratio: {ours['rate'] / bound:.3f} of the bound (target >= 0.9)")
    print(
        f"valuesurvey vs httpx's transport: {ours['rate'] / reference['rate']:.2f}x the throughput, "
        f"{reference['cpu_ms'] / ours['cpu_ms']:.2f}x less CPU per request; "
        f"vs the bare client: {ours['rate'] / bare['rate']:.3f} of its throughput"
    )
    print(
        f"with plan and export: {ours['wall_rate']:.1f} req/s, {ours['cpu_ms_total']:.3f} ms CPU per request "
        "in the client process"
    )


if __name__ == "__main__":
    main()
