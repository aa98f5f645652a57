"""Build the cloud provider and the router from the configuration.

A bad combination (a provider without a model, azure without an endpoint) is
reported with the key to fix; a missing API key is not an error here: the
provider fails at call time with reason ``auth`` and the router falls back.
"""

from __future__ import annotations

from typing import Any

from .. import secrets
from ..config import Config
from .router import Provider, Router


class BrainsConfigError(ValueError):
    """The cloud settings do not fit together; the message names the key."""


def build_cloud(cfg: Config) -> Provider | None:
    c = cfg.cloud
    if c.provider == "none":
        return None
    model = c.model or (c.azure_deployment if c.provider == "azure" else "")
    if not model:
        raise BrainsConfigError(f"cloud.model: must be set when cloud.provider is {c.provider!r}")
    key = secrets.api_key(c.provider, c.api_key_env, c.credential)
    common: dict[str, Any] = {"timeout": c.timeout_seconds, "max_tokens": c.max_tokens,
                              "temperature": c.temperature}
    name = "cloud"
    if c.provider in ("openai", "azure"):
        from .providers.openai_compat import OpenAICompatProvider

        if c.provider == "azure" and not c.azure_endpoint:
            raise BrainsConfigError("cloud.azure_endpoint: must be set when cloud.provider is 'azure'")
        import openai

        return OpenAICompatProvider(
            name, model, key, base_url=c.base_url if c.provider == "openai" else "",
            azure_endpoint=c.azure_endpoint if c.provider == "azure" else "",
            azure_deployment=c.azure_deployment, api_version=c.api_version,
            **{**common, "timeout": openai.Timeout(c.timeout_seconds, connect=c.connect_seconds)},
        )
    if c.provider == "anthropic":
        import anthropic

        from .providers.anthropic import AnthropicProvider

        timeout = anthropic.Timeout(c.timeout_seconds, connect=c.connect_seconds)
        return AnthropicProvider(name, model, key, base_url=c.base_url, **{**common, "timeout": timeout})
    from .providers.gemini import GeminiProvider

    return GeminiProvider(name, model, key, base_url=c.base_url, connect_seconds=c.connect_seconds, **common)


def build_router(cfg: Config, local: Provider | None) -> Router:
    r = cfg.router
    return Router(
        local, build_cloud(cfg), policy=r.policy, first_token_seconds=r.first_token_seconds,
        total_seconds=r.total_seconds, failure_threshold=r.breaker_failures,
        cooldown_seconds=r.breaker_cooldown_seconds, tools=r.tools,
    )


def policy_for(choice: str, configured: str) -> str:
    """The router policy for a backend choice: auto (= configured), local or cloud."""
    return {"local": "local-only", "cloud": "cloud-only"}.get(choice, configured)
