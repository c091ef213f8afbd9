"""Fixtures for the elicitation tests: study directories and the fault-injecting loopback server."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from valuesurvey.study import Study, load_study

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper modules of this folder (unique names: elicit_*)
    sys.path.insert(0, str(HERE))

from elicit_helpers import write_study_yaml  # noqa: E402


def _load_fault_server() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("elicit_fault_server", HERE / "fault_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


fault_server = _load_fault_server()


@pytest.fixture
def fault_server_module() -> types.ModuleType:
    return fault_server


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    """Start fault servers (``serve(latency=..., faults=(...), ...)``); all stopped at teardown."""
    servers = []

    def start(**config: Any) -> Any:
        server = fault_server.FaultServer(fault_server.FaultConfig(**config)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., Study]:
    def make(sub: str = "study", **fields: Any) -> Study:
        return load_study(write_study_yaml(tmp_path / sub, **fields))

    return make


def _load_batch_server() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("elicit_batch_server", HERE / "batch_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


batch_server = _load_batch_server()


@pytest.fixture
def batch_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Start loopback batch servers (``batch_serve(processing_seconds=..., fates=[...], ...)``) keeping
    their state under tmp_path; the planted key is in the environment; all stopped at teardown."""
    from elicit_helpers import BATCH_KEY

    monkeypatch.setenv("VALUESURVEY_BATCH_KEY", BATCH_KEY)
    servers = []

    def start(**config: Any) -> Any:
        config.setdefault("api_key", BATCH_KEY)
        root = tmp_path / f"batch-server-{len(servers)}"
        server = batch_server.BatchServer(root, batch_server.BatchConfig(**config)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
