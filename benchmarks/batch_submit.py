"""Batch submission at the paper's scale: 132,000 requests into batch files, submitted to the loopback
batch server (tests/elicit/batch_server.py, in its own process), then collected.

The study is the paper's design (examples/paper/study.yaml: MFQ-2 and WVS-7, 2 languages × 3 personas ×
20 repetitions, 20 models) with every model batched against the loopback server: the three Anthropic
models through Message Batches, the other 17 through OpenAI's Batch API (one batch each: 6,600
requests, ~8 MB). Each phase runs in a fresh process, so that its wall time and peak memory
(``ru_maxrss``: planning, the store, everything) are its own:

- ``submit``: ``valuesurvey elicit --batch --submit-only``: plan, write the batch files, record every
  batch and custom_id in responses.sqlite (one transaction per batch, before it is sent), upload and
  create them. Target: < 30 s and < 500 MB here.
- ``collect``: ``valuesurvey elicit`` again: poll, stream the results files, interpret and store the
  132,000 answers (chunks of 200 per transaction), export the tables.
- ``bare``, side by side: the same plan and the same JSONL bodies written with ``json.dumps`` and
  uploaded with httpx, without a store (what submitting costs when nothing is made durable): the
  floor for ``submit``.

    .venv/bin/python benchmarks/batch_submit.py [--processing 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "elicit" / "batch_server.py"
KEY = f"bench-batch-{secrets.token_hex(8)}"  # the loopback server's key, drawn per run


def _study(root: Path, base: str, prefix: str = "") -> Path:
    from valuesurvey.elicit.registry import get_entry

    paper = yaml.safe_load((ROOT / "examples" / "paper" / "study.yaml").read_text(encoding="utf-8"))
    models = []
    for spec in paper["models"]:
        entry = get_entry(spec["id"])
        anthropic = entry.provider == "anthropic"
        models.append(
            {
                "id": prefix + spec["id"],  # the bare reference's models have other ids: other keys
                "origin": entry.origin.value,
                "company": entry.company,
                "api_model": entry.api_model,
                "price_input_per_mtok": entry.price_input_per_mtok,
                "price_output_per_mtok": entry.price_output_per_mtok,
                "provider": "anthropic" if anthropic else "openai_compatible",
                "base_url": base if anthropic else f"{base}/v1",
                "api_key_env": "BENCH_BATCH_KEY",
                "batch": True,
                "batch_discount": 0.5,
                "options": {"batch_poll_seconds": 0.5, "logprobs": False},
            }
        )
    study = {
        k: paper[k] for k in ("instruments", "instrument_options", "languages", "personas", "repetitions")
    }
    study.update(name="batch-bench", answer_mode="text", generation=paper["generation"], models=models)
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return root


def _child(phase: str, study_dir: Path) -> None:
    """One measured phase, in this (fresh) process; prints one JSON line."""
    os.environ["BENCH_BATCH_KEY"] = KEY
    wall0 = time.perf_counter()
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.study import load_study

    study = load_study(study_dir)
    out: dict[str, object] = {"phase": phase}
    if phase == "bare":
        out.update(_bare(study))
    else:
        summary = run_elicitation(study, progress=False, submit_only=phase == "submit")
        out.update(
            stored=int(summary.per_model["requests"].sum()) if len(summary.per_model) else 0,
            in_batch=summary.in_batch,
            failed=summary.failed - summary.in_batch,
        )
    out["wall_s"] = time.perf_counter() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_mb"] = usage.ru_maxrss / 1024
    out["cpu_s"] = usage.ru_utime + usage.ru_stime  # what the phase cost, whatever the machine's load
    print(json.dumps(out), flush=True)


def _bare(study) -> dict[str, object]:
    """The same requests as JSONL with json.dumps, uploaded and created with httpx; no store."""
    import httpx

    from valuesurvey.elicit import ElicitConfig, plan_study

    plan = plan_study(study)
    headers = {"Authorization": f"Bearer {KEY}", "x-api-key": KEY, "anthropic-version": "2023-06-01"}
    sent = 0
    with httpx.Client(timeout=120) as client, tempfile.TemporaryDirectory() as tmp:
        for mp in plan.models:
            provider = mp.provider(mp.model, client=None, config=ElicitConfig(), api_key=KEY)
            path = Path(tmp) / f"{mp.model.id}.jsonl"
            anthropic = mp.model.provider == "anthropic"
            with open(path, "w", encoding="utf-8") as handle:
                if anthropic:
                    handle.write('{"requests":[')
                for i, request in enumerate(mp.requests):
                    body = provider.body(request.request)
                    if anthropic:
                        handle.write(
                            ("," if i else "") + json.dumps({"custom_id": request.key, "params": body})
                        )
                    else:
                        line = {
                            "custom_id": request.key,
                            "method": "POST",
                            "url": "/v1/chat/completions",
                            "body": body,
                        }
                        handle.write(json.dumps(line) + "\n")
                if anthropic:
                    handle.write("]}")
            base = mp.model.base_url.rstrip("/")
            if anthropic:
                client.post(
                    f"{base}/v1/messages/batches", content=path.read_bytes(), headers=headers
                ).raise_for_status()
            else:
                with open(path, "rb") as handle:
                    up = client.post(
                        f"{base}/files",
                        data={"purpose": "batch"},
                        files={"file": (path.name, handle)},
                        headers=headers,
                    )
                up.raise_for_status()
                body = {
                    "input_file_id": up.json()["id"],
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                }
                client.post(f"{base}/batches", json=body, headers=headers).raise_for_status()
            sent += len(mp.requests)
    return {"submitted": sent}


def _run_child(phase: str, study_dir: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", phase, str(study_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processing", type=float, default=1.0, help="server seconds per batch")
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "STUDY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                sys.executable,
                str(SERVER),
                "--state",
                f"{tmp}/server",
                "--processing",
                str(args.processing),
                "--api-key",
                KEY,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split()[1])
            base = f"http://127.0.0.1:{port}"
            ours = _study(Path(tmp) / "study", base)
            submit = _run_child("submit", ours)
            collect = _run_child("collect", ours)
            bare_server_study = _study(Path(tmp) / "bare", base, prefix="bare-")
            bare = _run_child("bare", bare_server_study)
            import httpx

            stats = httpx.get(f"{base}/_stats", timeout=60).json()
        finally:
            server.terminate()
            server.wait(10)
    submitted = {p: len(ids) for p, ids in stats["submitted"].items()}
    twice = sum(1 for ids in stats["submitted"].values() for n in ids.values() if n > 1)
    print(
        f"requests submitted (ours + bare): {sum(submitted.values()):,} ({submitted}), "
        f"batches created: {stats['creates']}"
    )
    print(
        f"submit  (valuesurvey elicit --batch --submit-only): {submit['wall_s']:6.1f} s ({submit['cpu_s']:5.1f} s CPU), peak {submit['peak_mb']:5.0f} MB; "
        f"{submit['in_batch']:,} requests in batches  (target < 30 s, < 500 MB)"
    )
    print(
        f"collect (valuesurvey elicit, poll + results):       {collect['wall_s']:6.1f} s ({collect['cpu_s']:5.1f} s CPU), peak {collect['peak_mb']:5.0f} MB; "
        f"{collect['stored']:,} answers stored, {collect['failed']} failed"
    )
    print(
        f"bare    (json.dumps + httpx upload, no store):      {bare['wall_s']:6.1f} s ({bare['cpu_s']:5.1f} s CPU), peak {bare['peak_mb']:5.0f} MB; "
        f"{bare['submitted']:,} requests"
    )
    print(
        f"submit / bare: {submit['wall_s'] / bare['wall_s']:.2f}x wall time, {submit['cpu_s'] / bare['cpu_s']:.2f}x CPU time, "
        f"{submit['peak_mb'] / bare['peak_mb']:.2f}x peak memory"
    )
    print(f"requests submitted more than once: {twice}")
    load_after = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average (1/5/15 min) "
        f"{' / '.join(f'{x:.1f}' for x in load_before)} before, "
        f"{' / '.join(f'{x:.1f}' for x in load_after)} after"
    )


if __name__ == "__main__":
    main()
