"""Secrets: cloud API keys, the MQTT password, the web token. From the environment, a file named in the
configuration, or systemd credentials; never from TOML, never logged, never in an event.

``read_secret`` reads one secret of the control plane (an environment variable, else the first line of
a file, else a credential). API keys for cloud providers (``api_key``) are looked up in this order:

1. the variable named by ``cloud.api_key_env`` (when set),
2. ``PANIKID_CLOUD_API_KEY``,
3. the provider's usual variable (``OPENAI_API_KEY``, ``AZURE_OPENAI_API_KEY``,
   ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``),
4. a systemd credential (``LoadCredential=``): ``$CREDENTIALS_DIRECTORY/<cloud.credential>``,
   then ``secrets_<cloud.credential>`` (the shipped unit loads the directory
   /etc/panikid/credentials as ``secrets``, so a file ``openai_api_key`` there is
   seen as ``secrets_openai_api_key``). An empty ``cloud.credential`` means the
   provider's own name: ``openai_api_key``, ``azure_api_key``,
   ``anthropic_api_key`` or ``gemini_api_key``.

The key is returned to the caller and handed to the SDK; it is never logged,
never put into an event, never stored in the configuration object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

VENDOR_VARS = {
    "openai": ["OPENAI_API_KEY"],
    "azure": ["AZURE_OPENAI_API_KEY"],
    "anthropic": ["ANTHROPIC_API_KEY"],
    "gemini": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
}


def api_key(provider: str, key_env: str = "", credential: str = "",
            environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    names = ([key_env] if key_env else []) + ["PANIKID_CLOUD_API_KEY"] + VENDOR_VARS.get(provider, [])
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return from_credentials(credential or f"{provider}_api_key", env)


class SecretError(ValueError):
    """A secret's file cannot be read; the message names the key, never the secret."""


def from_credentials(name: str, environ: Mapping[str, str]) -> str | None:
    """The first line of the systemd credential ``name`` (``$CREDENTIALS_DIRECTORY/<name>``, or
    ``secrets_<name>`` as the shipped unit loads /etc/panikid/credentials); None when there is none."""
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if not creds or not name:
        return None
    for candidate in (name, f"secrets_{name}"):
        try:
            lines = (Path(creds) / candidate).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        if lines and lines[0].strip():
            return lines[0].strip()
    return None


def read_secret(env_var: str, path: str, environ: Mapping[str, str], what: str,
                credential: str = "") -> str | None:
    """A secret from the environment variable ``env_var``, else the first line of the file ``path``,
    else the systemd credential ``credential``; None when none is set. ``what`` names the key in errors."""
    if environ.get(env_var):
        return environ[env_var]
    if not path:
        return from_credentials(credential, environ)
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise SecretError(f"{what}: cannot read {path}: {exc.__class__.__name__}") from None


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced (for messages from SDKs)."""
    return text.replace(secret, "***") if secret else text
