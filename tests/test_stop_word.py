"""Stop words (``wake.stop_models``): a model heard while a reply plays stops it and starts no turn. No
"stop" model ships in the packages, so the tests use ``hey_jarvis`` as the stop word (any microWakeWord
model works the same way); the real engines run on spoken audio."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from daemons import DaemonProcess
from helpers import free_port

from panikid.app.components import ComponentError, load_wake
from panikid.config import Config, ConfigError, ModelsConfig, replace
from panikid.devtools import fixtures
from panikid.events import EventBus
from panikid.events.schema import AudioStarted, AudioStopped
from panikid.pipeline.frames import InputAudioFrame, InterruptionFrame, WakeWordFrame
from panikid.pipeline.runner import Pipeline, PipelineRunner
from panikid.speech.wake.engines import load_engines
from panikid.speech.wake.processor import WakeWordProcessor

FRAME = 480


def _processor() -> WakeWordProcessor:
    return WakeWordProcessor(load_engines("micro", ["okay_nabu"], "", ModelsConfig()),
                             stop_engines=load_engines("micro", ["hey_jarvis"], "", ModelsConfig()))


def _frames(pcm: np.ndarray, playing: bool, t0: float = 0.0) -> list[InputAudioFrame]:
    x = np.concatenate([np.zeros(8000, np.int16), pcm, np.zeros(16000, np.int16)])
    x = x[: x.size // FRAME * FRAME]
    return [InputAudioFrame(pcm=x[k:k + FRAME].tobytes(), t=t0 + k / 16000, playing=playing)
            for k in range(0, x.size, FRAME)]


async def _hear(wake: WakeWordProcessor, batches: list[tuple[object | None, list[InputAudioFrame]]]) -> tuple[
        list[object], EventBus]:
    """Each batch: an event to publish first (a reply starting or stopping), then its frames."""
    bus = EventBus()
    pipeline = Pipeline([wake])
    pipeline.keep_delivered = True
    runner = PipelineRunner(pipeline, bus)
    await runner.start()
    try:
        queued = 0
        for event, frames in batches:
            if event is not None:
                bus.publish(event)
            for f in frames:
                pipeline.queue_frame(f)
            queued += len(frames)
            async with asyncio.timeout(60):
                while wake.audio_frames < queued:  # noqa: ASYNC110 (this batch heard before the next event)
                    await asyncio.sleep(0.01)
    finally:
        await runner.cancel()
    return list(pipeline.delivered), bus


@pytest.fixture(scope="module")
def stop_speech(speech_dir: Path) -> np.ndarray:
    return fixtures.read_pcm(fixtures.cached_speech("Hey Jarvis.", speech_dir))


def test_a_stop_word_over_a_reply_stops_it_and_starts_no_turn(stop_speech: np.ndarray) -> None:
    out, bus = asyncio.run(_hear(_processor(), [(None, _frames(stop_speech, playing=True))]))
    stops = [f for f in out if isinstance(f, InterruptionFrame)]
    assert [f.reason for f in stops] == ["stop"]
    assert not [f for f in out if isinstance(f, WakeWordFrame)]
    (event,) = bus.of_type("stop_word")
    assert event.data["model"] == "hey_jarvis" and event.data["score"] >= 0.85
    assert not bus.of_type("wake")


def test_a_stop_word_is_heard_only_while_a_reply_plays(stop_speech: np.ndarray) -> None:
    """Without the front end's knowledge of the speaker, the reply's own events arm the stop word."""
    quiet = _frames(stop_speech, playing=False)
    later = _frames(stop_speech, playing=False, t0=10.0)
    evenlater = _frames(stop_speech, playing=False, t0=20.0)
    out, bus = asyncio.run(_hear(_processor(), [(None, quiet), (AudioStarted(turn=3), later),
                                                (AudioStopped(turn=3, interrupted=False), evenlater)]))
    stops = [f for f in out if isinstance(f, InterruptionFrame)]
    assert len(stops) == 1 and len(bus.of_type("stop_word")) == 1  # only while turn 3's reply played
    assert 10.0 < bus.of_type("stop_word")[0].data["stream_t"] < 20.0


def test_the_wake_word_can_be_left_deaf_while_a_reply_plays(speech_dir: Path) -> None:
    """``wake.during_replies = false``, the fallback without an echo canceller: the wake word is not
    listened for while a reply plays, and is again once it stopped."""
    wake_word = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    deaf = WakeWordProcessor(load_engines("micro", ["okay_nabu"], "", ModelsConfig()), during_replies=False)
    out, bus = asyncio.run(_hear(deaf, [(AudioStarted(turn=4), _frames(wake_word, playing=False)),
                                        (AudioStopped(turn=4, interrupted=False),
                                         _frames(wake_word, playing=False, t0=10.0))]))
    (woke,) = bus.of_type("wake")
    assert woke.data["stream_t"] > 10.0 and len([f for f in out if isinstance(f, WakeWordFrame)]) == 1


def test_stop_words_are_checked_like_wake_words(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wake.stop_models: 'okay_nabu' is in wake.models too"):
        replace(Config(), wake={"stop_models": ["okay_nabu"]})
    cfg = replace(Config(), wake={"stop_models": ["no_such_word"], "custom_models_dir": str(tmp_path)})
    with pytest.raises(ComponentError, match="wake.stop_models: .*no_such_word"):
        load_wake(cfg, stop_words=True)


async def _say(port: int, text: str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
        await ws.send_str(json.dumps({"command": "say", "text": text}))
        async with asyncio.timeout(10):
            async for msg in ws:
                if json.loads(msg.data).get("type") in ("tts_started", "error"):
                    return


def test_the_daemon_stops_its_reply_at_the_stop_word(stop_speech: np.ndarray, tmp_path: Path) -> None:
    """``panikid run`` with files as microphone and speaker (played at their own pace): the daemon says a
    long text; 'hey jarvis', configured as the stop word, is said into the microphone while it plays."""
    wav = fixtures.compose(tmp_path / "mic.wav", [5.0, stop_speech, 6.0])
    port = free_port()
    daemon = DaemonProcess("--input", str(wav), "--output", str(tmp_path / "out.wav"),
                           env={"PANIKID_WEB_PORT": str(port), "PANIKID_WAKE_STOP_MODELS": "hey_jarvis"})
    try:
        ready = daemon.wait_event("ready", timeout=120)
        asyncio.run(_say(port, "Here is a long answer, so that there is time to stop it. " * 4))
        started = daemon.wait_event("audio_started", timeout=30, after=ready)
        stop = daemon.wait_event("stop_word", timeout=30, after=started)
        stopped = daemon.wait_event("audio_stopped", timeout=10, after=stop)
        code = daemon.stop(timeout=10)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code == 0, daemon.stderr[-2000:]
    assert stopped["interrupted"] is True and stop["model"] == "hey_jarvis"
    after = daemon.events[daemon.events.index(stop):]
    assert not [e for e in daemon.events if e["type"] in ("wake", "speech_started")], after
    assert stopped["t"] - stop["t"] < 1.0  # playback stopped at once
