"""Secrets for the control plane: environment, file, or the service's systemd credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from panikid.secrets import SecretError, read_secret


def test_secret_sources_in_order(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "secrets_mqtt_password").write_text("from-credential\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert read_secret("PW", "", env, "mqtt.password_file", credential="mqtt_password") == "from-credential"
    # Another credential name does not pick up the MQTT password.
    assert read_secret("TOKEN", "", env, "web.token_file", credential="web_token") is None
    f = tmp_path / "pw"
    f.write_text("from-file\nignored\n")
    assert read_secret("PW", str(f), env, "mqtt.password_file", credential="mqtt_password") == "from-file"
    assert read_secret("PW", str(f), {**env, "PW": "from-env"}, "x", credential="mqtt_password") == "from-env"
    with pytest.raises(SecretError, match="mqtt.password_file"):
        read_secret("PW", str(tmp_path / "missing"), {}, "mqtt.password_file")
