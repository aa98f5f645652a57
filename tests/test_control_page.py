"""The status page in a real headless Chromium, against the real daemon."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from daemons import DaemonThread
from helpers import free_port

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.web.surface import WebSurface

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_page_follows_a_turn_and_mutes_the_daemon(components: Any, long_silence: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    cfg = config.replace(config.Config(), web={"port": port})
    opts = RunOptions(str(long_silence), str(tmp_path / "out.wav"), pace="realtime")
    run = DaemonThread(Daemon(cfg, opts, components, [WebSurface(cfg, {})]))
    try:
        run.wait_event("ready")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                state = page.locator("#state")
                expect(state).to_have_text("idle", timeout=30_000)
                page.fill("#say-text", "Hello from the status page.")
                page.click("text=Say")
                expect(state).to_have_text("responding", timeout=60_000)
                expect(state).to_have_text("idle", timeout=60_000)
                expect(page.locator("#turns tr")).to_have_count(1, timeout=30_000)
                page.click("#mute")
                expect(state).to_have_text("muted", timeout=30_000)
                expect(page.locator("#mute")).to_have_text("Unmute")
                assert run.daemon.state.muted is True
                page.screenshot(path=str(tmp_path / "status.png"))
                page.click("#mute")
                expect(state).to_have_text("idle", timeout=30_000)
                assert run.daemon.state.muted is False
            finally:
                browser.close()
    finally:
        run.stop()
