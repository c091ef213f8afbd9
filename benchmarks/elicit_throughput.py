"""Elicitation throughput: 2,000 requests to a loopback server answering after 100 ms, concurrency 32.

The servers (tests/elicit/fault_server.py) run in their own processes; the runner, the SQLite store
(one commit per answer) and the parser are in the loop exactly as in a real run. The bound is
concurrency / latency = 320 attempts/s; the targets are a ratio of at least 0.9 without faults and
0.8 with 10% of the requests failing once.

Side by side, in one run:

- valuesurvey as shipped (``http_transport: asyncio``, the lean HTTP/1.1 transport);
- valuesurvey as shipped against a server where 10% of the requests fail once (429 with
  Retry-After, 500, 503, connection reset, malformed JSON, no choices), with the default retry
  settings (backoff from 1 s, jitter): the retried requests wait off the worker, so the others keep
  it busy. Its bound counts every attempt: (requests + retries) / (concurrency / latency) seconds;
- valuesurvey on httpx's default transport (``http_transport: httpx``: httpcore over anyio);
- a bare client (asyncio streams, hand-written requests, no store or parser): what the server and
  the operating system allow on this machine, the ceiling for the other two.

    .venv/bin/python benchmarks/elicit_throughput.py [--requests 2000] [--concurrency 32] [--latency 0.1]
                                                     [--fault-rate 0.1]
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
    attempts = int(summary.per_model["attempts"].sum())
    bound_seconds = attempts * args.latency / args.concurrency
    return {
        "rate": summary.sent / summary.run_seconds,
        "ratio": bound_seconds / summary.run_seconds,
        "retries": attempts - summary.sent,
        "seconds": summary.run_seconds,
        "wall_rate": summary.sent / wall,
        "cpu_ms": 1000 * summary.run_cpu_seconds / summary.sent,
        "cpu_ms_total": 1000 * cpu / summary.sent,
    }


async def _bare(port: int, requests: int, concurrency: int, latency: float) -> dict[str, float]:
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
        "ratio": requests * latency / concurrency / seconds,
        "retries": 0,
        "seconds": seconds,
        "cpu_ms": 1000 * (time.process_time() - cpu0) / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    args = parser.parse_args()

    faults = "429,500,503,reset,malformed,empty"
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "elicit" / "fault_server.py"),
                "--latency",
                str(args.latency),
            ]
            + (["--faults", faults, "--fault-rate", str(args.fault_rate)] if faulty else []),
            stdout=subprocess.PIPE,
            text=True,
        )
        for faulty in (False, True)
    ]
    try:
        port, faulty_port = (int((s.stdout.readline() if s.stdout else "").split()[1]) for s in servers)
        ours = run_valuesurvey(port, args, "asyncio")
        with_faults = run_valuesurvey(faulty_port, args, "asyncio")
        reference = run_valuesurvey(port, args, "httpx")
        bare = asyncio.run(_bare(port, args.requests, args.concurrency, args.latency))
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)

    bound = args.concurrency / args.latency
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms, "
        f"bound {bound:.0f} attempts/s, cores {os.cpu_count()}"
    )
    print(f"{'client':<52} {'run s':>6} {'req/s':>7} {'retries':>7} {'ratio':>6} {'CPU ms/req':>11}")
    for name, r in (
        ("valuesurvey, lean asyncio transport (default)", ours),
        (f"valuesurvey, lean transport, {args.fault_rate:.0%} of requests fail once", with_faults),
        ("valuesurvey, httpx default transport", reference),
        ("bare asyncio client (no store, no parser)", bare),
    ):
        print(
            f"{name:<52} {r['seconds']:6.2f} {r['rate']:7.1f} {r['retries']:7d} {r['ratio']:6.3f} "
            f"{r['cpu_ms']:11.3f}"
        )
    print(
        f"ratio to the bound: {ours['ratio']:.3f} without faults (target >= 0.9), "
        f"{with_faults['ratio']:.3f} with {args.fault_rate:.0%} faults (target >= 0.8)"
    )
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
