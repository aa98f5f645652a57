"""A browser as the microphone and speaker: headless Chromium talks to the real daemon.

Chromium's fake microphone plays a WAV ("okay nabu ... what can you do?"); the status page's Talk button
opens a session (WebRTC or the /audio WebSocket); the reply the page played is read back from its tap and
transcribed. Also: a tab closed mid-reply ends the session within the deadline and the local loop carries
on; a missing token and a foreign origin are refused.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daemons import DaemonThread
from helpers import free_port, similarity

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.audio.convert import resample
from panikid.audio.wav import read_wav
from panikid.control.web.surface import WebSurface
from panikid.devtools import fixtures

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required"]
TOKEN = "open-sesame-for-the-test"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")]


@pytest.fixture(scope="module")
def microphone_wav(wake_and_fixed_reply: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The question with 2 s of silence before it (the fake device starts at getUserMedia) and after."""
    pcm, _ = read_wav(wake_and_fixed_reply)
    samples = np.concatenate([fixtures.silence(2.0), np.frombuffer(pcm, "<i2"), fixtures.silence(8.0)])
    return fixtures.write_pcm(tmp_path_factory.mktemp("mic") / "question.wav", samples)


def _daemon(components: Any, silence: Path, tmp_path: Path, token: str | None = None,
            **web: Any) -> tuple[DaemonThread, int, Path]:
    port = free_port()
    cfg = config.replace(config.Config(), web={"port": port, **web})
    out = tmp_path / "local_speaker.wav"
    env = {"PANIKID_WEB_TOKEN": token} if token else {}
    run = DaemonThread(Daemon(cfg, RunOptions(str(silence), str(out), pace="realtime"), components,
                              [WebSurface(cfg, env)]))
    run.wait_event("ready")
    return run, port, out


def _heard(page: Any) -> bytes:
    rec = page.evaluate("Talk.recording()")
    pcm = base64.b64decode(rec["pcm"])
    if rec["rate"] != 16000:
        x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
        pcm = (np.clip(resample(x, rec["rate"], 16000), -1, 1) * 32767).astype("<i2").tobytes()
    return pcm


def _talk(page: Any, port: int, kind: str, token: str = TOKEN) -> None:
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{port}/?processing=off&token={token}")
    expect(page.locator("#state")).to_have_text("idle", timeout=30_000)
    page.select_option("#talk-kind", kind)
    page.check("#hands-free")  # the question in the WAV starts with the wake word
    page.click("#talk")
    expect(page.locator("#talk-state")).to_contain_text(f"({kind})", timeout=30_000)


@pytest.mark.parametrize("kind", ["webrtc", "websocket"])
def test_a_question_spoken_in_the_browser_is_answered_in_the_browser(
        kind: str, components: Any, long_silence: Path, microphone_wav: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    run, port, local_out = _daemon(components, long_silence, tmp_path, token=TOKEN)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                *ARGS, f"--use-file-for-fake-audio-capture={microphone_wav}%noloop"])
            try:
                page = browser.new_page()
                _talk(page, port, kind)
                started = run.wait_event("session_started", timeout=30)
                assert started["kind"] == kind
                reply = run.wait_event("reply", timeout=120)["text"]
                assert reply.startswith("I can tell you the time"), reply
                transcript = run.wait_event("transcript")["text"]
                assert similarity("what can you do", transcript) >= 0.75, transcript
                stopped = run.wait_event("audio_stopped", timeout=120)
                assert stopped["interrupted"] is False
                page.wait_for_timeout(1000)  # the last of the reply leaves the page's buffers
                heard = components.stt.transcribe_recording(_heard(page))
                assert similarity(reply, heard) >= 0.75, (reply, heard)
                page.click("#hangup")
                ended = run.wait_event("session_ended", timeout=10)
                assert ended["session"] == started["session"]
            finally:
                browser.close()
        # Nothing of it played on the local speaker.
        assert not local_out.exists() or np.abs(np.frombuffer(read_wav(local_out)[0], "<i2")).max(initial=0) < 100
    finally:
        run.stop()


def test_a_tab_closed_mid_reply_ends_its_session_and_the_local_loop_carries_on(
        components: Any, long_silence: Path, microphone_wav: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    run, port, local_out = _daemon(components, long_silence, tmp_path, token=TOKEN, session_timeout_seconds=2.0)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                *ARGS, f"--use-file-for-fake-audio-capture={microphone_wav}%noloop"])
            try:
                page = browser.new_page()
                _talk(page, port, "webrtc")
                run.wait_event("audio_started", timeout=120)
                page.close()  # mid-reply
                ended = run.wait_event("session_ended", timeout=10)
                assert ended["reason"] in ("closed", "connection failed", "no audio for 2 s"), ended
            finally:
                browser.close()
        run.wait_event(lambda e: e["type"] == "audio_stopped" and e.get("interrupted"), timeout=10)
        run.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", timeout=30)
        n = len(run.events)
        run.call(run.daemon.ask, "What can you do?")
        run.wait_event("audio_stopped", after=n, timeout=120)
        assert np.abs(np.frombuffer(read_wav(local_out)[0], "<i2")).max() > 1000
    finally:
        run.stop()


def test_audio_endpoints_refuse_a_wrong_token_and_a_cross_origin_page(
        components: Any, long_silence: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    run, port, _ = _daemon(components, long_silence, tmp_path, token=TOKEN)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/?token=wrong")
                status = page.evaluate("""async () => {
                    const r = await fetch("webrtc/offer?token=wrong", {method: "POST", body: "{}"});
                    return r.status; }""")
                assert status == 401
                refused = page.evaluate("""() => new Promise((ok) => {
                    const ws = new WebSocket(`ws://${location.host}/audio?token=wrong`);
                    ws.onopen = () => ok("open"); ws.onerror = () => ok("refused"); })""")
                assert refused == "refused"
                # A page of another origin with the right token: refused by the Origin check.
                other = browser.new_page()
                other.goto(f"http://localhost:{port}/healthz")  # another origin than 127.0.0.1
                cross = other.evaluate("""([port, token]) => new Promise((ok) => {
                    const ws = new WebSocket(`ws://127.0.0.1:${port}/audio?token=${token}`);
                    ws.onopen = () => ok("open"); ws.onerror = () => ok("refused"); })""", [port, TOKEN])
                assert cross == "refused"
            finally:
                browser.close()
        assert not [e for e in run.events if e["type"] == "session_started"]
    finally:
        run.stop()
