"""Configuration: defaults, validation messages, search order, environment overrides, config/panikid.toml."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from panikid import config, config_loader
from panikid.config import Config, ConfigError, build, load, replace

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "config" / "panikid.toml"


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever this machine has in /etc, the tests see no system configuration."""
    monkeypatch.setattr(config_loader, "SYSTEM_CONFIG", tmp_path / "etc" / "panikid.toml")


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        build(data)
    return str(info.value)


# ----------------------------------------------------------------------------- defaults


def test_defaults_are_the_documented_defaults() -> None:
    cfg = Config()
    rows = config.documented_defaults()
    assert len(rows) == sum(len(dataclasses.fields(cls)) for cls in config.SECTIONS.values())
    for section, key, default, doc in rows:
        if (section, key) == ("general", "device_id"):
            assert default == "" and cfg.general.device_id == config.machine_device_id()  # empty: this machine's
            continue
        assert getattr(getattr(cfg, section), key) == default, f"{section}.{key}"
        assert doc.strip(), f"{section}.{key} has no description"
    # The default models of the design: all of them run offline from packages.
    assert cfg.wake.engine == "micro" and cfg.wake.models == ["okay_nabu"]
    assert cfg.vad.engine == "webrtc"
    assert (cfg.stt.model, cfg.stt.compute_type, cfg.stt.beam_size) == ("tiny.en", "int8", 1)
    assert cfg.llm.model == "smollm2-135m"
    assert cfg.tts.voice == "en_US-joe-medium"
    assert cfg.source == "built-in defaults"


def test_an_empty_document_gives_the_defaults() -> None:
    assert build({}) == Config()
    assert build({"vad": {}}) == Config()


def test_config_is_frozen_and_lists_are_not_shared() -> None:
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vad.silence_seconds = 1.0  # type: ignore[misc]
    cfg.wake.models.append("mutated")
    assert Config().wake.models == ["okay_nabu"]


def test_valid_values_are_taken_and_typed() -> None:
    cfg = build({
        "general": {"device_id": "kitchen-pi_2", "log_level": "debug"},
        "audio": {"frame_ms": 20, "volume": 0},
        "vad": {"silence_seconds": 1},  # an integer where a number is expected is fine
        "wake": {"models": ["okay_nabu", "hey_jarvis"]},
        "models": {"allow_download": False},
    }, source="test")
    assert cfg.general.device_id == "kitchen-pi_2" and cfg.general.log_level == "debug"
    assert cfg.audio.frame_ms == 20
    assert cfg.audio.volume == 0.0 and isinstance(cfg.audio.volume, float)
    assert cfg.vad.silence_seconds == 1.0 and isinstance(cfg.vad.silence_seconds, float)
    assert cfg.wake.models == ["okay_nabu", "hey_jarvis"]
    assert cfg.models.allow_download is False
    assert cfg.source == "test"


# ----------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # wrong type
        ({"vad": {"silence_seconds": "long"}}, ["vad.silence_seconds", "'long'", "a number from 0.1 to 5.0"]),
        ({"vad": {"aggressiveness": 2.5}}, ["vad.aggressiveness", "an integer from 0 to 3"]),
        ({"vad": {"aggressiveness": True}}, ["vad.aggressiveness", "an integer from 0 to 3"]),
        ({"models": {"allow_download": "yes"}}, ["models.allow_download", "true or false"]),
        ({"audio": {"input_device": 2}}, ["audio.input_device", "a string"]),
        ({"wake": {"models": "okay_nabu"}}, ["wake.models", "a list of strings"]),
        ({"wake": {"models": ["okay_nabu", 3]}}, ["wake.models", "a list of strings"]),
        # out of range
        ({"vad": {"aggressiveness": 4}}, ["vad.aggressiveness", "got 4", "from 0 to 3"]),
        ({"audio": {"volume": -0.5}}, ["audio.volume", "from 0.0 to 1.0"]),
        ({"llm": {"max_tokens": 5000}}, ["llm.max_tokens", "from 8 to 4096"]),
        ({"vad": {"threshold": float("nan")}}, ["vad.threshold", "from 0.01 to 0.99"]),
        ({"wake": {"cooldown_seconds": float("inf")}}, ["wake.cooldown_seconds", "from 0.0 to 60.0"]),
        ({"wake": {"models": []}}, ["wake.models", "at least 1 item"]),
        # not one of the choices
        ({"wake": {"engine": "porcupine"}}, ["wake.engine", "'porcupine'", "one of 'micro', 'open'"]),
        ({"audio": {"frame_ms": 25}}, ["audio.frame_ms", "one of 20, 30, 40, 60, 80"]),
        ({"general": {"log_level": "INFO"}}, ["general.log_level", "one of 'debug', 'info', 'warning'"]),
        # unknown key, unknown section, a section that is not a table
        ({"vad": {"silense_seconds": 1.0}}, ["vad.silense_seconds", "unknown key", "silence_seconds"]),
        ({"speech": {"rate": 1}},
         ["unknown section [speech]", "general, audio, frontend, wake, vad, turn, stt, llm, tts, cues"]),
        ({"vad": 3}, ["vad", "must be a table"]),
        # bad pattern
        ({"general": {"device_id": "a b"}}, ["general.device_id", "'a b'", "^[A-Za-z0-9_-]{0,64}$"]),
        ({"general": {"device_id": "panikid\n"}}, ["general.device_id", "^[A-Za-z0-9_-]{0,64}$"]),
        ({"general": {"device_id": "x" * 65}}, ["general.device_id"]),
        ({"stt": {"language": "EN"}}, ["stt.language", "^[a-z]{2,3}$"]),
    ],
)
def test_each_bad_value_names_the_key_and_what_is_allowed(data: dict[str, Any], expected: list[str]) -> None:
    message = error_of(data)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_unknown_key_lists_every_allowed_key_of_its_section() -> None:
    message = error_of({"stt": {"modle": "tiny.en"}})
    allowed = message.split("allowed keys:")[1]
    assert [k.strip() for k in allowed.split(",")] == [f.name for f in dataclasses.fields(config.SttConfig)]


# ----------------------------------------------------------------------------- files


def test_load_searches_explicit_then_env_then_system_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[general]\ndevice_id = "explicit"\n')
    from_env = tmp_path / "env.toml"
    from_env.write_text('[general]\ndevice_id = "from-env"\n')
    system = tmp_path / "etc" / "panikid.toml"

    assert load(None, {}).source == "built-in defaults"
    assert load(None, {}) == Config()

    system.parent.mkdir()
    system.write_text('[general]\ndevice_id = "system"\n')
    assert load(None, {}).general.device_id == "system"
    assert load(None, {}).source == str(system)

    env = {"PANIKID_CONFIG": str(from_env)}
    assert load(None, env).general.device_id == "from-env"
    assert load(str(explicit), env).general.device_id == "explicit"
    assert load(str(explicit), env).source == str(explicit)


def test_an_invalid_value_in_a_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[vad]\nengine = \"cobra\"\n")
    with pytest.raises(ConfigError) as info:
        load(str(path), {})
    assert str(path) in str(info.value)
    assert "vad.engine" in str(info.value) and "one of 'webrtc', 'silero'" in str(info.value)


def test_invalid_toml_is_reported_with_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[vad]\nsilence_seconds = 0.6\nengine = webrtc\n")
    with pytest.raises(ConfigError) as info:
        load(str(path), {})
    message = str(info.value)
    assert str(path) in message and "not valid TOML" in message
    assert "line 3" in message


def test_a_missing_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"configuration file {missing} does not exist")):
        load(str(missing), {})
    with pytest.raises(ConfigError, match="does not exist"):
        load(None, {"PANIKID_CONFIG": str(missing)})


# ----------------------------------------------------------------------------- environment


def test_env_overrides_convert_to_the_key_type(tmp_path: Path) -> None:
    path = tmp_path / "panikid.toml"
    path.write_text("[vad]\nsilence_seconds = 1.0\naggressiveness = 1\n")
    cfg = load(str(path), {
        "PANIKID_VAD_SILENCE_SECONDS": "0.8",  # float, wins over the file
        "PANIKID_VAD_AGGRESSIVENESS": "3",  # int
        "PANIKID_MODELS_ALLOW_DOWNLOAD": "no",  # bool
        "PANIKID_WAKE_MODELS": "okay_nabu, hey_jarvis,",  # list, comma-separated
        "PANIKID_AUDIO_INPUT_DEVICE": "2",  # a string stays a string
        "PANIKID_UNRELATED": "ignored",
    })
    assert cfg.vad.silence_seconds == 0.8
    assert cfg.vad.aggressiveness == 3
    assert cfg.models.allow_download is False
    assert cfg.wake.models == ["okay_nabu", "hey_jarvis"]
    assert cfg.audio.input_device == "2"
    assert cfg.vad.engine == "webrtc"  # untouched keys keep their defaults


@pytest.mark.parametrize("text", ["1", "true", "YES", "on"])
def test_env_true_spellings(text: str) -> None:
    assert load(None, {"PANIKID_MODELS_ALLOW_DOWNLOAD": text}).models.allow_download is True


@pytest.mark.parametrize("text", ["0", "false", "No", "off"])
def test_env_false_spellings(text: str) -> None:
    assert load(None, {"PANIKID_MODELS_ALLOW_DOWNLOAD": text}).models.allow_download is False


@pytest.mark.parametrize(
    ("var", "value", "key", "allowed"),
    [
        ("PANIKID_VAD_AGGRESSIVENESS", "high", "vad.aggressiveness", "an integer from 0 to 3"),
        ("PANIKID_VAD_AGGRESSIVENESS", "2.0", "vad.aggressiveness", "an integer from 0 to 3"),
        ("PANIKID_VAD_SILENCE_SECONDS", "fast", "vad.silence_seconds", "a number from 0.1 to 5.0"),
        ("PANIKID_VAD_THRESHOLD", "nan", "vad.threshold", "a number from 0.01 to 0.99"),
        ("PANIKID_MODELS_ALLOW_DOWNLOAD", "maybe", "models.allow_download", "true or false"),
        ("PANIKID_WAKE_MODELS", " , ", "wake.models", "at least 1 item"),
        ("PANIKID_WAKE_ENGINE", "Micro", "wake.engine", "one of 'micro', 'open'"),
    ],
)
def test_a_bad_env_value_names_the_key_and_the_variable(var: str, value: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, {var: value})
    message = str(info.value)
    assert key in message and allowed in message and var in message


# ----------------------------------------------------------------------------- replace


def test_replace_changes_only_the_given_keys_and_validates() -> None:
    cfg = build({"vad": {"silence_seconds": 0.9}}, source="file.toml")
    changed = replace(cfg, vad={"engine": "silero"}, audio={"volume": 0.5})
    assert changed.vad.engine == "silero" and changed.audio.volume == 0.5
    assert changed.vad.silence_seconds == 0.9  # kept
    assert changed.source == "file.toml"
    assert cfg.vad.engine == "webrtc" and cfg.audio.volume == 1.0  # the original is unchanged
    assert replace(cfg) == cfg
    with pytest.raises(ConfigError, match=r"vad\.engine.*one of 'webrtc', 'silero'"):
        replace(cfg, vad={"engine": "cobra"})
    with pytest.raises(ConfigError, match=r"vad\.nonsense: unknown key"):
        replace(cfg, vad={"nonsense": 1})
    with pytest.raises(ConfigError, match=r"unknown section \[speech\]"):
        replace(cfg, speech={"rate": 1})


def test_to_dict_round_trips() -> None:
    cfg = replace(Config(), wake={"models": ["a", "b"]}, llm={"temperature": 0.7})
    assert build(config.to_dict(cfg)) == cfg


# ----------------------------------------------------------------------------- config/panikid.toml


def test_the_default_file_parses_to_exactly_the_built_in_defaults() -> None:
    with DEFAULT_FILE.open("rb") as f:
        data = tomllib.load(f)
    assert build(data, source=str(DEFAULT_FILE)) == Config()
    # Every key is written out, not left to its default.
    assert {s: set(v) for s, v in data.items()} == {
        name: {f.name for f in dataclasses.fields(cls)} for name, cls in config.SECTIONS.items()
    }
    assert load(str(DEFAULT_FILE), {}) == Config()


def test_every_key_in_the_default_file_has_a_comment_above_it() -> None:
    lines = DEFAULT_FILE.read_text(encoding="utf-8").splitlines()
    keys = 0
    for i, text in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", text):
            keys += 1
            above = lines[i - 1] if i else ""
            assert above.startswith("# ") and len(above) > 3, f"no comment above {text!r}"
    assert keys == len(config.documented_defaults())


def test_the_default_file_header_explains_the_search_order_and_env_overrides() -> None:
    header = DEFAULT_FILE.read_text(encoding="utf-8").split("\n[", 1)[0]
    order = ("--config", "PANIKID_CONFIG", "/etc/panikid/panikid.toml", "built-in defaults")
    positions = [header.index(s) for s in order]
    assert positions == sorted(positions)
    assert "PANIKID_<SECTION>_<KEY>" in header


def test_the_default_file_is_what_gen_config_generates() -> None:
    script = ROOT / "scripts" / "gen-config"

    def gen(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(script), *args]
        return subprocess.run(command, capture_output=True, text=True, check=check)

    first, second = gen("--stdout"), gen("--stdout")
    assert first.stdout == second.stdout  # deterministic
    stale = "config/panikid.toml is stale: run scripts/gen-config"
    assert first.stdout == DEFAULT_FILE.read_text(encoding="utf-8"), stale
    check = gen("--check", check=False)
    assert check.returncode == 0, check.stderr


def test_the_default_device_id_is_this_machines_own(tmp_path: Path) -> None:
    """Two devices on one broker must not share a client id: the default comes from the host name and
    the machine id, stable for one machine and different between two."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("4f1c0a7e9b2d4c6e8f0a1b2c3d4e5f60\n")
    b.write_text("0123456789abcdef0123456789abcdef\n")
    first = config.machine_device_id("raspberrypi", str(a))
    assert first == config.machine_device_id("raspberrypi", str(a))  # stable
    assert first != config.machine_device_id("raspberrypi", str(b))  # two Pis with the stock host name
    assert re.fullmatch(r"raspberrypi-[0-9a-f]{6}", first)
    assert config.machine_device_id("My Pi.local", str(a)).startswith("My-Pi-local-")
    assert config.machine_device_id("kitchen", str(tmp_path / "none")) == "kitchen"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", config.Config().general.device_id)
    assert config.replace(config.Config(), general={"device_id": "hall"}).general.device_id == "hall"
