"""API keys for cloud providers: from the environment or systemd credentials, never from TOML.

Looked up in this order:

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
    creds = env.get("CREDENTIALS_DIRECTORY")
    name = credential or f"{provider}_api_key"
    if creds:
        for candidate in (name, f"secrets_{name}"):
            try:
                value = (Path(creds) / candidate).read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if value:
                return value
    return None


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced (for messages from SDKs)."""
    return text.replace(secret, "***") if secret else text
