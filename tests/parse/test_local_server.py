"""The local llama.cpp server (xllamacpp + SmolLM2-135M-Instruct) over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from valuesurvey.elicit.local_server import (
    LlamaServer,
    LocalServerError,
    default_model_path,
    find_free_port,
)
from valuesurvey.elicit.parse import expected_value, parse_rating, rating_distribution
from valuesurvey.errors import MissingComponentError

pytestmark = pytest.mark.llama

MFQ_SYSTEM = "Respond only with a number from 1 to 5."
MFQ_USER = (
    "Please indicate how well the statement below describes you or your opinions.\n"
    "Options:\n1: Does not describe me at all\n2: Slightly describes me\n3: Moderately describes me\n"
    "4: Describes me fairly well\n5: Describes me extremely well\n"
    "Statement: {item}"
)
ITEMS = [
    "Caring for people who have suffered is an important virtue.",
    "We all need to learn from our elders.",
    "I think having a strong leader is good for society.",
]


def messages(item: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": MFQ_SYSTEM},
        {"role": "user", "content": MFQ_USER.format(item=item)},
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with LlamaServer(threads=2, parallel=2) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LlamaServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60, trust_env=False) as http:
        yield http


def chat(client: httpx.Client, server: LlamaServer, item: str, **extra: object) -> dict:
    body = {"model": server.model_name, "messages": messages(item), "max_tokens": 8, **extra}
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    return response.json()


def test_default_model_is_the_smollm2_gguf_and_ports_are_free() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    port = find_free_port()
    with httpx.Client(trust_env=False) as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{port}/health")


def test_models_endpoint_and_base_url(server: LlamaServer, client: httpx.Client) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    models = client.get("/models").json()
    assert [m["id"] for m in models["data"]] == [server.model_name]
    assert server.running and "running on" in repr(server)


def test_text_mode_answers_parse(server: LlamaServer, client: httpx.Client) -> None:
    statuses = []
    for seed, item in enumerate(ITEMS):
        body = chat(client, server, item, temperature=1.0, seed=seed)
        choice = body["choices"][0]
        assert choice["finish_reason"] in {"stop", "length"}
        assert body["usage"]["prompt_tokens"] > 50 and body["usage"]["completion_tokens"] >= 1
        parsed = parse_rating(
            choice["message"]["content"], scale_min=1, scale_max=5, finish_reason=choice["finish_reason"]
        )
        statuses.append(parsed.status)
        assert parsed.value is None or 1 <= parsed.value <= 5
    assert set(statuses) <= {"ok", "invalid", "refusal", "nonsense"}


def test_grammar_restricts_the_answer_to_a_scale_point(server: LlamaServer, client: httpx.Client) -> None:
    for seed, item in enumerate(ITEMS):
        body = chat(client, server, item, temperature=1.0, seed=seed, grammar="root ::= [1-5]")
        text = body["choices"][0]["message"]["content"]
        assert text in {"1", "2", "3", "4", "5"}, text
        assert parse_rating(text, scale_min=1, scale_max=5).value == int(text)


def test_logprobs_give_a_rating_distribution(server: LlamaServer, client: httpx.Client) -> None:
    body = chat(client, server, ITEMS[0], temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=20)
    content = body["choices"][0]["logprobs"]["content"]
    top = content[0]["top_logprobs"]
    assert len(top) == 20 and {"token", "logprob", "bytes"} <= set(top[0])
    dist = rating_distribution(top, scale_min=1, scale_max=5)
    assert dist is not None and sum(dist.values()) == pytest.approx(1.0)
    assert 1.0 <= expected_value(dist) <= 5.0


def test_digits_are_single_tokens_for_smollm2(server: LlamaServer) -> None:
    # Documented in valuesurvey.elicit.parse: "10" is "1" + "0", so P("10") is not a first-token probability.
    with httpx.Client(trust_env=False) as http:
        tokens = http.post(f"{server.root_url}/tokenize", json={"content": "10"}).json()["tokens"]
        pieces = http.post(f"{server.root_url}/detokenize", json={"tokens": tokens[:1]}).json()["content"]
    assert len(tokens) == 2 and pieces == "1"


def test_stops_cleanly_and_reports_a_taken_port(tmp_path: Path) -> None:
    log = tmp_path / "llama.log"
    with LlamaServer(parallel=1, n_ctx=512, log_path=log) as first:
        port, pid = first.port, first.pid
        with pytest.raises(LocalServerError, match=f"could not bind port {port}"):
            LlamaServer(port=port, parallel=1, n_ctx=512, startup_timeout=20).start()
        assert first.running  # the failed second server did not disturb the first
    assert not first.running
    with httpx.Client(trust_env=False) as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{port}/health")
    assert pid is not None and not _alive(pid)
    assert "valuesurvey-llama-ready" in log.read_text()  # a user's log file is kept


def test_stops_on_error_inside_the_block() -> None:
    with pytest.raises(RuntimeError, match="boom"), LlamaServer(parallel=1, n_ctx=512) as running:
        pid = running.pid
        raise RuntimeError("boom")
    assert pid is not None and not _alive(pid)


def test_missing_and_broken_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingComponentError, match=r"no-such\.gguf"):
        LlamaServer(tmp_path / "no-such.gguf").start()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LocalServerError, match="exited with code"):
        LlamaServer(broken, startup_timeout=30).start()


def test_server_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from valuesurvey.elicit.local_server import LlamaServer
        server = LlamaServer(parallel=1, n_ctx=512, log_path=sys.argv[1]).start()
        print(server.pid, server.port, flush=True)
        time.sleep(120)
        """
    )
    log = tmp_path / "orphan.log"
    parent = subprocess.Popen([sys.executable, "-c", script, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        child_pid, _port = (int(x) for x in line.split())
        assert _alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(child_pid), "the llama.cpp server outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False
