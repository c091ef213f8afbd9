"""Providers, registered by name with a decorator; each factory imports its module lazily.

A new provider is one class (a subclass of :class:`Provider`) plus one registered factory::

    @register_provider("myapi")
    def _myapi() -> type[Provider]:
        from valuesurvey.elicit.providers.myapi import MyAPIProvider
        return MyAPIProvider
"""

from __future__ import annotations

from collections.abc import Callable

from valuesurvey.elicit._exceptions import ProviderNotFoundError
from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, ModelInfo, Provider

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "ModelInfo",
    "Provider",
    "provider_class",
    "provider_names",
    "register_provider",
]

ProviderFactory = Callable[[], type[Provider]]
_FACTORIES: dict[str, ProviderFactory] = {}


def register_provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register ``factory`` (a function returning the provider class) under ``name``."""

    def decorate(factory: ProviderFactory) -> ProviderFactory:
        _FACTORIES[name] = factory
        return factory

    return decorate


def provider_names() -> list[str]:
    """Names of the registered providers.

    >>> provider_names()
    ['anthropic', 'llamacpp', 'openai_compatible', 'simulated', 'vllm']
    """
    return sorted(_FACTORIES)


def provider_class(name: str) -> type[Provider]:
    """The provider class registered under ``name``."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ProviderNotFoundError(
            f"unknown provider {name!r}; known providers: {', '.join(provider_names())}"
        ) from None
    return factory()


@register_provider("openai_compatible")
def _openai_compatible() -> type[Provider]:
    from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider

    return OpenAICompatibleProvider


@register_provider("anthropic")
def _anthropic() -> type[Provider]:
    from valuesurvey.elicit.providers.anthropic import AnthropicProvider

    return AnthropicProvider


@register_provider("llamacpp")
def _llamacpp() -> type[Provider]:
    from valuesurvey.elicit.providers.llamacpp import LlamaCppProvider

    return LlamaCppProvider


@register_provider("simulated")
def _simulated() -> type[Provider]:
    from valuesurvey.elicit.providers.simulated import SimulatedProvider

    return SimulatedProvider


@register_provider("vllm")
def _vllm() -> type[Provider]:
    from valuesurvey.elicit.providers.vllm import VLLMProvider

    return VLLMProvider
