"""wake.custom_models_dir pointing nowhere is an error a user sees, not a silent fallback."""

from __future__ import annotations

from pathlib import Path

from daemons import run_cli


def test_a_custom_models_dir_that_does_not_exist_stops_run_and_fails_check(tmp_path: Path,
                                                                           wake_and_command: Path) -> None:
    missing = tmp_path / "no-such-dir"
    a_file = tmp_path / "models.txt"
    a_file.write_text("not a directory\n")
    for where, words in ((missing, "does not exist"), (a_file, "is not a directory")):
        env = {"PANIKID_WAKE_CUSTOM_MODELS_DIR": str(where)}
        res = run_cli("run", "--input", str(wake_and_command), "--events", "-", env=env)
        assert res.code == 2, (res.code, res.stderr[-2000:])  # like any model path that is not there
        assert "Traceback" not in res.stderr
        assert f"wake.custom_models_dir: {where} {words}" in res.stderr
        assert '"ready"' not in res.stdout
        check = run_cli("check", env=env)
        assert check.code == 1
        assert f"models: PROBLEM: wake.custom_models_dir = {where} — wake.custom_models_dir: {where} {words}" \
            in check.stdout, check.stdout
    present = tmp_path / "models"
    present.mkdir()
    check = run_cli("check", env={"PANIKID_WAKE_CUSTOM_MODELS_DIR": str(present)})
    assert f"models: ok: wake.custom_models_dir = {present}" in check.stdout
    assert "models: ok: wake word okay_nabu" in check.stdout  # the built-in one is still found
