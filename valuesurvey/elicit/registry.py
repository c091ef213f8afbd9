"""The model registry: which models exist, who made them, where and how to reach them, what they cost.

The registry ships as ``registry.yaml`` beside this module: the 20 LLMs of seed 001 (Table 1, ten made in
China, ten in the USA), the local ``smollm2-local`` model and twenty simulated respondents
(``sim-cn-01``…``sim-us-10``). The 20 models of seed 000 (the poster) are not listed publicly and are
not guessed here.

A study names models by id in ``study.yaml``; :func:`resolve_model` completes each
:class:`~valuesurvey.study.ModelSpec` from the registry entry with the same id, the study's own fields
winning (``options`` merge key by key). An id that is not in the registry is a user's own model and must
give ``provider``, ``origin`` and, for network providers, ``api_model`` and ``base_url``.

Override files (user registries) use the same YAML layout; an entry whose id exists replaces the fields
it sets (e.g. newer prices), a new id adds a model. They are read, in order, from the paths in the
``VALUESURVEY_REGISTRY`` environment variable (separated by ``os.pathsep``) and then from the
``overrides`` argument.

API keys never appear in the registry: each entry names the environment variable that holds its key.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from valuesurvey._config import parse_yaml_mapping, validation_message
from valuesurvey.design import company_origin, origin_value
from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.errors import ConfigError
from valuesurvey.study import ModelSpec

__all__ = [
    "NETWORK_PROVIDERS",
    "REGISTRY_ENV",
    "Registry",
    "RegistryEntry",
    "ResolvedModel",
    "check_model_fields",
    "get_entry",
    "list_models",
    "load_registry",
    "resolve_model",
]

#: Environment variable naming user registry override files (``os.pathsep``-separated).
REGISTRY_ENV = "VALUESURVEY_REGISTRY"
#: Providers that reach a remote or separately run server and so need ``api_model`` and ``base_url``.
NETWORK_PROVIDERS = frozenset({"openai_compatible", "anthropic", "vllm"})
_BUILTIN = "registry.yaml"


class RegistryEntry(BaseModel):
    """One model in the registry (the fields of :class:`~valuesurvey.study.ModelSpec` plus provenance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(..., pattern=r"^[A-Za-z0-9_.:/-]+$")
    provider: str
    origin: str = Field(..., description="a country (ISO 3166), none, or company")
    company: str
    display_name: str | None = None
    table1_name: str | None = Field(None, description="the name in seed 001 Table 1, for study models")
    api_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)
    max_concurrency: int | None = Field(None, ge=1)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    batch_discount: float | None = Field(
        None,
        ge=0,
        le=1,
        description="share of the list price the provider's batch API takes off (0.5: half price); "
        "none: no batch API at this endpoint",
    )
    options: dict[str, Any] = Field(default_factory=dict)
    notes: str | None = None

    @field_validator("origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> str:
        return origin_value(value, field="")


class Registry(BaseModel):
    """The parsed registry file: entries by id, with the date the prices were checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    prices_as_of: str
    price_note: str = ""
    models: tuple[RegistryEntry, ...]

    def by_id(self) -> dict[str, RegistryEntry]:
        return {entry.id: entry for entry in self.models}


@dataclass(frozen=True)
class ResolvedModel:
    """A study's model with every field filled in (study.yaml over registry); what providers receive.

    ``in_registry`` tells whether a registry entry was used; ``prices_as_of`` is the registry's date
    for registry prices and ``None`` when the study set both prices itself.
    """

    id: str
    provider: str
    origin: str  # an alpha-2 code, none, or company:<company>
    company: str
    display_name: str
    api_model: str
    base_url: str | None
    api_key_env: str | None
    price_input_per_mtok: float
    price_output_per_mtok: float
    max_concurrency: int | None
    requests_per_minute: float | None
    tokens_per_minute: float | None
    options: dict[str, Any] = field(default_factory=dict)
    in_registry: bool = True
    prices_as_of: str | None = None
    batch_discount: float | None = None
    batch: bool = False

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Cost at the resolved list prices.

        >>> resolve_model(ModelSpec(id="gpt-4o")).cost_usd(1_000_000, 100_000)
        3.5
        """
        return (input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok) / 1e6


# ---------------------------------------------------------------------- loading


def _read_yaml(source: str, text: str) -> dict[str, Any]:
    data = parse_yaml_mapping(text, source=source, expected="registry fields")
    if not isinstance(data.get("models", []), list):
        raise ConfigError(f"{source}: expected a mapping with a 'models' list")
    return data


def _validate(source: str, data: Mapping[str, Any]) -> Registry:
    try:
        registry = Registry.model_validate(data)
    except ValidationError as exc:
        loc = list(exc.errors()[0]["loc"])
        where = None
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            entry = data["models"][loc[1]]
            name = entry.get("id", f"#{loc[1]}") if isinstance(entry, Mapping) else f"#{loc[1]}"
            where = f"models[{name}]." + ".".join(str(p) for p in loc[2:])
        raise ConfigError(validation_message(source, exc, where=where)) from None
    for entry in registry.models:
        check_model_fields(
            f"{source}: field models[{entry.id}]",
            provider=entry.provider,
            base_url=entry.base_url,
            options=entry.options,
        )
    return registry


def check_model_fields(
    where: str, *, provider: str | None, base_url: str | None, options: Mapping[str, Any]
) -> None:
    """Refuse, before anything is sent, a provider that does not exist, a base URL that cannot be
    requested and header values that cannot be sent; ``where`` names the file and the model
    (``study.yaml: field models[2]``), the message adds the field.

    >>> check_model_fields("study.yaml: field models[0]", provider="openai_compatible",
    ...                    base_url="htp://127.0.0.1:8000/v1", options={})
    Traceback (most recent call last):
    valuesurvey.errors.ConfigError: study.yaml: field models[0].base_url: 'htp://127.0.0.1:8000/v1' \
cannot be requested: the scheme is 'htp', not http or https
    """
    from valuesurvey.elicit.providers import provider_names
    from valuesurvey.elicit.providers._http import header_problem, url_problem

    if provider is not None and provider not in provider_names():
        raise ConfigError(
            f"{where}.provider: unknown provider {provider!r}{_suggest(provider, provider_names())}; "
            f"valid providers: {', '.join(provider_names())}"
        )
    if base_url is not None and (problem := url_problem(base_url)):
        raise ConfigError(f"{where}.base_url: {base_url!r} cannot be requested: {problem}")
    for name in ("timeout", "connect_timeout"):
        value = options.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ConfigError(f"{where}.options.{name}: expected a number of seconds > 0, got {value!r}")
    retries = options.get("max_retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise ConfigError(f"{where}.options.max_retries: expected an integer >= 0, got {retries!r}")
    headers = options.get("extra_headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigError(f"{where}.options.extra_headers: expected a mapping of header names to values")
    for name, value in headers.items():
        problem = header_problem(str(name)) or header_problem(str(value), spaces=True)
        if problem:
            raise ConfigError(
                f"{where}.options.extra_headers.{name}: cannot be sent in an HTTP header: {problem}"
            )


@functools.lru_cache(maxsize=1)
def _builtin_data() -> dict[str, Any]:
    text = resources.files("valuesurvey.elicit").joinpath(_BUILTIN).read_text(encoding="utf-8")
    return _read_yaml(_BUILTIN, text)


def _override_paths(overrides: Iterable[str | os.PathLike[str]]) -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(REGISTRY_ENV, "").split(os.pathsep) if p.strip()]
    return [*from_env, *(Path(p) for p in overrides)]


def _merge_models(base: list[dict[str, Any]], extra: Sequence[Any], source: Path) -> list[dict[str, Any]]:
    merged = {str(m.get("id")): dict(m) for m in base}
    for position, entry in enumerate(extra):
        if not isinstance(entry, Mapping) or "id" not in entry:
            raise ConfigError(f"{source}: field models[#{position}].id: each model needs an id")
        current = merged.get(str(entry["id"]), {})
        combined = {**current, **entry}
        combined["options"] = _merge_options(current.get("options") or {}, entry.get("options") or {})
        merged[str(entry["id"])] = combined
    return list(merged.values())


def load_registry(overrides: Iterable[str | os.PathLike[str]] = ()) -> Registry:
    """The built-in registry with user override files applied (``VALUESURVEY_REGISTRY``, then ``overrides``).

    Raises
    ------
    ConfigError
        An override file is unreadable or invalid (the message names the file and field).

    Examples
    --------
    >>> registry = load_registry()
    >>> sorted({e.origin for e in registry.models if e.table1_name})
    ['CN', 'US']
    >>> sum(1 for e in registry.models if e.table1_name)
    20
    """
    data = dict(_builtin_data())
    models: list[dict[str, Any]] = [dict(m) for m in data.get("models", [])]
    for path in _override_paths(overrides):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read registry override file ({exc.strerror})") from None
        extra = _read_yaml(str(path), text)
        models = _merge_models(models, extra.get("models") or [], path)
        for key in ("prices_as_of", "price_note"):
            if key in extra:
                data[key] = extra[key]
        data["models"] = models
        _validate(str(path), data)  # name the override file in errors it introduces
    data["models"] = models
    return _validate(_BUILTIN, data)


def list_models(
    *,
    provider: str | None = None,
    origin: str | None = None,
    study_models_only: bool = False,
    overrides: Iterable[str | os.PathLike[str]] = (),
) -> list[RegistryEntry]:
    """Registry entries, optionally filtered by provider, origin (any form of a country, or none) or
    seed 001 membership.

    >>> [e.id for e in list_models(provider="anthropic")]
    ['claude-3.5-sonnet', 'claude-3.7-sonnet', 'claude-opus-4']
    >>> len(list_models(study_models_only=True, origin="CN"))
    10
    """
    entries = load_registry(overrides).models
    wanted = None if origin is None else origin_value(origin)
    return [
        entry
        for entry in entries
        if (provider is None or entry.provider == provider)
        and (wanted is None or entry.origin == wanted)
        and (not study_models_only or entry.table1_name is not None)
    ]


def get_entry(model_id: str, *, overrides: Iterable[str | os.PathLike[str]] = ()) -> RegistryEntry:
    """The registry entry ``model_id``; ``ConfigError`` naming close ids when it does not exist."""
    entries = load_registry(overrides).by_id()
    if model_id not in entries:
        raise ConfigError(f"model {model_id!r} is not in the registry{_suggest(model_id, entries)}")
    return entries[model_id]


def _suggest(model_id: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(model_id, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


# ---------------------------------------------------------------------- resolving


def _merge_options(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge option mappings key by key, nested mappings recursively (``extra`` wins)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge_options(merged[key], value)
        else:
            merged[key] = value
    return merged


def _require(spec: ModelSpec, names: Sequence[str], why: str, where: str) -> None:
    for name in names:
        if getattr(spec, name) is None:
            raise ConfigError(
                f"{where}.{name} is required: {spec.id!r} is not in the registry "
                f"({why}){_suggest(spec.id, (e.id for e in list_models()))}"
            )


def resolve_model(
    spec: ModelSpec,
    *,
    registry: Registry | None = None,
    overrides: Iterable[str | os.PathLike[str]] = (),
    where: str | None = None,
) -> ResolvedModel:
    """Complete a study.yaml model from the registry: the spec's own fields win, ``options`` merge.

    Parameters
    ----------
    spec : ModelSpec
        One entry of ``study.models``.
    registry : Registry, optional
        A loaded registry (default: :func:`load_registry` with ``overrides``).
    overrides : iterable of path-like
        Registry override files (after those in ``VALUESURVEY_REGISTRY``).
    where : str, optional
        How errors name the spec (default ``study.yaml: field models[<id>]``).

    Returns
    -------
    ResolvedModel

    Raises
    ------
    ConfigError
        An id not in the registry lacks ``provider`` or ``origin`` (or, for ``openai_compatible`` and
        ``anthropic``, ``api_model`` or ``base_url``); the spec names an unknown provider, a base URL
        that cannot be requested or a header that cannot be sent; the message names the field.

    Examples
    --------
    >>> model = resolve_model(ModelSpec(id="qwen3-235b-a22b", max_concurrency=2))
    >>> model.company, model.origin, model.max_concurrency, model.options["extra_body"]
    ('Alibaba', 'CN', 2, {'enable_thinking': False})
    >>> resolve_model(ModelSpec(id="my-model", provider="openai_compatible", origin="US",
    ...     api_model="m", base_url="http://127.0.0.1:8000/v1")).in_registry
    False
    """
    where = where or f"study.yaml: field models[{spec.id}]"
    loaded = registry if registry is not None else load_registry(overrides)
    entries, prices_as_of = loaded.by_id(), loaded.prices_as_of
    entry = entries.get(spec.id)
    check_model_fields(where, provider=spec.provider, base_url=spec.base_url, options=spec.options)
    if entry is None:
        _require(spec, ("provider", "origin"), "a user model needs provider and origin", where)
        if spec.provider in NETWORK_PROVIDERS:
            _require(
                spec,
                ("api_model", "base_url"),
                f"provider {spec.provider} needs api_model and base_url",
                where,
            )
    base = entry.model_dump() if entry is not None else {}
    own = spec.model_dump(exclude_none=True, exclude={"options"})

    def pick(name: str, default: Any = None) -> Any:
        return own.get(name, base.get(name, default))

    study_prices = spec.price_input_per_mtok is not None and spec.price_output_per_mtok is not None
    options = _merge_options(base.get("options") or {}, spec.options)
    try:
        ElicitConfig(http_transport=options.get("http_transport"))
    except ValueError as exc:
        raise ConfigError(f"{where}.options.{exc}") from None
    company = pick("company") or "unknown"
    try:
        origin = company_origin(origin_value(pick("origin"), field=""), company)
    except ValueError as exc:
        raise ConfigError(f"{where}.origin: {exc}") from None
    return ResolvedModel(
        id=spec.id,
        provider=pick("provider"),
        origin=origin,
        company=company,
        display_name=pick("display_name") or spec.id,
        api_model=pick("api_model") or spec.id,
        base_url=pick("base_url"),
        api_key_env=pick("api_key_env"),
        price_input_per_mtok=float(pick("price_input_per_mtok", 0.0)),
        price_output_per_mtok=float(pick("price_output_per_mtok", 0.0)),
        max_concurrency=pick("max_concurrency"),
        requests_per_minute=pick("requests_per_minute"),
        tokens_per_minute=pick("tokens_per_minute"),
        options=options,
        in_registry=entry is not None,
        prices_as_of=None if study_prices or entry is None else prices_as_of,
        batch_discount=pick("batch_discount"),
        batch=bool(spec.batch),
    )
