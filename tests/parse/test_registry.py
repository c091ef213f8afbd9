"""The model registry: seed 001's 20 models, local and simulated entries, resolving study.yaml models."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuesurvey.elicit.registry import (
    REGISTRY_ENV,
    get_entry,
    list_models,
    load_registry,
    resolve_model,
)
from valuesurvey.errors import ConfigError
from valuesurvey.study import ModelSpec, load_study

TABLE1 = {
    "Baichuan2-13B-Chat": "CN", "Claude-3.5-Sonnet": "US", "Claude-3.7-Sonnet": "US", "Claude-Opus-4": "US",
    "DeepSeek-V2-Lite-Chat": "CN", "DeepSeek-V3": "CN", "Ernie-4.5-300B-A47B": "CN", "Gemini-2.0-Flash": "US",
    "Gemini-2.5-Flash": "US", "GLM-4-Plus": "CN", "GPT-4": "US", "GPT-4o": "US", "GPT-4.1": "US",
    "Kimi 1.5": "CN", "Kimi K2": "CN", "Llama-3.3-70B-Instruct": "US", "Llama-4-Maverick": "US",
    "Qwen2.5-72B-Instruct": "CN", "Qwen3-235B-A22B": "CN", "Yi-34B-Chat": "CN",
}  # fmt: skip


def test_the_twenty_models_of_table_1_with_their_origin() -> None:
    study = list_models(study_models_only=True)
    assert {e.table1_name: e.origin for e in study} == TABLE1
    for entry in study:
        assert entry.provider in {"openai_compatible", "anthropic", "vllm"}  # network providers
        assert (
            entry.api_model and entry.base_url and entry.base_url.startswith(("https://", "http://127.0.0.1"))
        )
        assert entry.api_key_env and entry.api_key_env.isupper() and entry.api_key_env.endswith("_API_KEY")
        assert entry.company and entry.max_concurrency


def test_official_endpoints_per_company() -> None:
    urls = {e.company: e.base_url for e in list_models(study_models_only=True)}
    assert urls["OpenAI"] == "https://api.openai.com/v1"
    assert urls["Anthropic"] == "https://api.anthropic.com"
    assert urls["Alibaba"].endswith("aliyuncs.com/compatible-mode/v1")
    assert urls["Google"] == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert urls["Zhipu AI"] == "https://open.bigmodel.cn/api/paas/v4"
    assert urls["Baidu"] == "https://qianfan.baidubce.com/v2"
    assert "moonshot" in urls["Moonshot"] and "lingyiwanwu" in urls["01.AI"]


def test_prices_are_dated_and_positive_for_hosted_models() -> None:
    registry = load_registry()
    assert registry.prices_as_of[:4].isdigit() and "override" in registry.price_note.lower()
    hosted = [e for e in registry.models if e.table1_name and not e.base_url.startswith("http://127.0.0.1")]  # type: ignore[union-attr]
    assert all(e.price_input_per_mtok > 0 and e.price_output_per_mtok > 0 for e in hosted)
    assert get_entry("claude-opus-4").price_output_per_mtok == 75.0


def test_local_and_simulated_entries() -> None:
    local = get_entry("smollm2-local")
    assert local.provider == "llamacpp" and local.price_input_per_mtok == 0.0
    simulated = list_models(provider="simulated")
    assert [e.id for e in simulated] == [f"sim-{o}-{i:02d}" for o in ("cn", "us") for i in range(1, 11)]
    for entry in simulated:
        assert entry.company == "SIMULATED" and "SIMULATED" in (entry.display_name or "")
        assert entry.origin == entry.id.split("-")[1].upper()
        assert {"cn_weight", "noise_sd"} <= set(entry.options)
        assert (entry.options["cn_weight"] > 0.5) == (entry.origin == "CN")
    assert len({e.options["cn_weight"] for e in simulated}) == 20  # every simulated model differs


def test_resolve_fills_from_the_registry_and_study_fields_win() -> None:
    spec = ModelSpec(
        id="gpt-4o",
        max_concurrency=2,
        price_input_per_mtok=1.0,
        price_output_per_mtok=2.0,
        options={"extra_body": {"service_tier": "flex"}},
    )
    model = resolve_model(spec)
    assert (model.provider, model.api_model, model.company, model.origin) == (
        "openai_compatible", "gpt-4o", "OpenAI", "US",
    )  # fmt: skip
    assert model.api_key_env == "OPENAI_API_KEY" and model.max_concurrency == 2
    assert (model.price_input_per_mtok, model.price_output_per_mtok, model.prices_as_of) == (1.0, 2.0, None)
    assert model.options == {"extra_body": {"service_tier": "flex"}}
    assert model.in_registry and model.cost_usd(2_000_000, 1_000_000) == pytest.approx(4.0)


def test_options_merge_recursively() -> None:
    spec = ModelSpec(id="qwen3-235b-a22b", options={"extra_body": {"top_k": 20}, "timeout": 30})
    model = resolve_model(spec)
    assert model.options == {"extra_body": {"enable_thinking": False, "top_k": 20}, "timeout": 30}
    assert model.prices_as_of == load_registry().prices_as_of


def test_unknown_models_need_provider_origin_and_endpoint() -> None:
    with pytest.raises(ConfigError, match=r"models\[my-llm\]\.provider is required"):
        resolve_model(ModelSpec(id="my-llm"))
    with pytest.raises(ConfigError, match=r"models\[my-llm\]\.origin is required"):
        resolve_model(ModelSpec(id="my-llm", provider="openai_compatible"))
    with pytest.raises(ConfigError, match=r"models\[my-llm\]\.api_model is required"):
        resolve_model(ModelSpec(id="my-llm", provider="openai_compatible", origin="CN"))
    with pytest.raises(ConfigError, match=r"models\[my-llm\]\.base_url is required"):
        resolve_model(ModelSpec(id="my-llm", provider="anthropic", origin="CN", api_model="x"))
    with pytest.raises(ConfigError, match="did you mean gpt-4o"):
        resolve_model(ModelSpec(id="gpt-4oo"))
    with pytest.raises(
        ConfigError,
        match=r"models\[gpt-4o\]\.options\.http_transport must be one of asyncio, httpx, got 'h2'",
    ):
        resolve_model(ModelSpec(id="gpt-4o", options={"http_transport": "h2"}))
    model = resolve_model(
        ModelSpec(
            id="my-llm", provider="openai_compatible", origin="CN", api_model="x", base_url="http://h/v1"
        )
    )
    assert (model.company, model.display_name, model.in_registry, model.prices_as_of) == (
        "unknown", "my-llm", False, None,
    )  # fmt: skip
    sim = resolve_model(ModelSpec(id="sim-extra", provider="simulated", origin="US"))
    assert sim.api_model == "sim-extra" and sim.base_url is None


def test_override_file_from_argument_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "prices.yaml"
    first.write_text(
        "prices_as_of: '2026-01-01'\nmodels:\n"
        "  - {id: gpt-4o, price_input_per_mtok: 1.25, options: {logprobs: false}}\n"
        "  - {id: team-llm, provider: openai_compatible, origin: CN, company: Team,"
        " api_model: t, base_url: 'http://127.0.0.1:9000/v1'}\n",
        encoding="utf-8",
    )
    registry = load_registry([first])
    assert registry.prices_as_of == "2026-01-01"
    gpt = registry.by_id()["gpt-4o"]
    assert (gpt.price_input_per_mtok, gpt.price_output_per_mtok, gpt.options) == (
        1.25,
        10.0,
        {"logprobs": False},
    )
    assert resolve_model(ModelSpec(id="team-llm"), registry=registry).company == "Team"

    monkeypatch.setenv(REGISTRY_ENV, str(first))
    assert get_entry("team-llm").base_url == "http://127.0.0.1:9000/v1"
    assert resolve_model(ModelSpec(id="gpt-4o")).price_input_per_mtok == 1.25


def test_broken_override_files_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {id: new-llm, provider: openai_compatible, origin: XX, company: C}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: field models\[new-llm\]\.origin"):
        load_registry([bad])
    bad.write_text("models: [ {id: x\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+ invalid YAML"):
        load_registry([bad])
    with pytest.raises(ConfigError, match="cannot read registry override file"):
        load_registry([tmp_path / "missing.yaml"])


def test_a_study_yaml_resolves_every_model(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text(
        "name: demo\nmodels:\n  - id: deepseek-v3\n  - id: claude-3.7-sonnet\n    api_model: claude-3-7-sonnet-latest\n"
        "  - id: sim-cn-03\n  - id: smollm2-local\n",
        encoding="utf-8",
    )
    study = load_study(tmp_path)
    resolved = [resolve_model(spec) for spec in study.models]
    assert [m.origin for m in resolved] == ["CN", "US", "CN", "US"]
    assert resolved[1].api_model == "claude-3-7-sonnet-latest" and resolved[1].provider == "anthropic"
    assert resolved[2].provider == "simulated" and resolved[3].provider == "llamacpp"


def test_no_key_values_in_the_registry() -> None:
    text = (Path(__file__).resolve().parents[2] / "valuesurvey" / "elicit" / "registry.yaml").read_text()
    assert "sk-" not in text and "api_key:" not in text
