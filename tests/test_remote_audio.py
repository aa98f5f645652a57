"""Remote audio sessions: the floor, the /audio WebSocket with a program as the client, a vanished client.

The daemon runs for real (models, pipeline, web server); the local "microphone" is a WAV of silence and
the local "speaker" a WAV file, so a test can tell where the reply was played.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from daemons import DaemonThread
from helpers import free_port, similarity

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.audio.wav import read_wav
from panikid.control.web.surface import WebSurface
from panikid.transports.remote import FloorBusy, JitterBuffer, PlaybackQueue, RemoteFloor

FRAME = 640  # 20 ms at 16 kHz, s16le


# ------------------------------------------------------------------ the floor, pure


def test_jitter_buffer_pads_when_late_and_drops_the_oldest_when_bunched() -> None:
    jb = JitterBuffer(max_bytes=8)
    jb.feed(b"\x01\x00\x02\x00")
    assert jb.take(6) == b"\x01\x00\x02\x00\x00\x00" and jb.padded_bytes == 2
    jb.feed(bytes(range(12)))
    assert len(jb) == 8 and jb.dropped_bytes == 4
    assert jb.take(8) == bytes(range(4, 12))


def test_playback_queue_waits_while_full_and_a_clear_frees_the_writer() -> None:
    async def main() -> None:
        q = PlaybackQueue(max_bytes=4)
        await q.put(b"ab")
        writer = asyncio.create_task(q.put(b"cdefgh"))
        await asyncio.sleep(0.01)
        assert not writer.done()  # full: the writer waits, as on a speaker's buffer
        assert q.pull(3) == b"abc" and q.level == 5
        await asyncio.sleep(0.01)
        assert not writer.done()
        gen = q.generation
        q.clear()
        await asyncio.wait_for(writer, 1)
        assert q.pull(10) is None and q.generation == gen + 1
        assert await q.wait_empty(0.1)

    asyncio.run(main())


def test_one_session_holds_the_floor_and_a_silent_one_loses_it() -> None:
    started: list[int] = []
    ended: list[tuple[int, str]] = []
    floor = RemoteFloor(deadline=0.2, on_start=lambda s: started.append(s.id),
                        on_end=lambda s: ended.append((s.id, s.end_reason)))
    a = floor.open("websocket", "10.0.0.2", 16000)
    with pytest.raises(FloorBusy, match="holds the floor"):
        floor.open("webrtc", "10.0.0.3", 48000)
    time.sleep(0.3)
    assert floor.active() is a  # no audio yet: a connection being set up has FIRST_AUDIO_SECONDS
    a.feed(bytes(FRAME))
    assert floor.active() is a
    time.sleep(0.3)
    assert floor.active() is None  # no audio past the deadline: ended, the floor is free
    assert ended == [(a.id, "no audio for 0.2 s")] and a.ended.is_set()
    b = floor.open("webrtc", "10.0.0.3", 48000)
    floor.end(b, "closed")
    floor.end(b, "closed")  # once only
    assert started == [a.id, b.id] and ended[-1] == (b.id, "closed") and len(ended) == 2


# ------------------------------------------------------------------ a program on /audio


def _pcm(path: Path) -> bytes:
    pcm, _ = read_wav(path)
    return pcm


async def _talk(url: str, question: bytes, stop_after_reply_starts: bool = False,
                timeout: float = 120.0) -> dict[str, Any]:
    """Stream ``question`` then silence in real time; collect the reply audio until it ends (a pause
    after audio), or stop sending (without closing) once the reply started."""
    got = bytearray()
    texts: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        first = await ws.receive_json(timeout=10)
        assert first["type"] == "session" and first["sample_rate"] == 16000 and first["format"] == "s16le"
        last_audio = None
        stopped_sending = False

        async def reader() -> None:
            nonlocal last_audio
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got.extend(msg.data)
                    last_audio = time.monotonic()
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    texts.append(json.loads(msg.data))

        task = asyncio.create_task(reader())
        start = time.monotonic()
        sent = 0
        silence = bytes(FRAME)
        while time.monotonic() - start < timeout and not task.done():
            if stop_after_reply_starts and len(got) > 16000:
                stopped_sending = True  # the client vanishes: no audio, no close
            if not stopped_sending:
                chunk = question[sent:sent + FRAME] if sent < len(question) else silence
                sent += FRAME
                await ws.send_bytes(chunk.ljust(FRAME, b"\0"))
            if not stop_after_reply_starts and last_audio and time.monotonic() - last_audio > 3.0:
                break
            await asyncio.sleep(max(0.0, start + sent / 32000 - time.monotonic()) if not stopped_sending
                                else 0.05)
        await ws.close()
        task.cancel()
    return {"audio": bytes(got), "texts": texts}


def _daemon(components: Any, silence: Path, tmp_path: Path, **web: Any) -> tuple[DaemonThread, int, Path]:
    port = free_port()
    cfg = config.replace(config.Config(), web={"port": port, **web})
    out = tmp_path / "local_speaker.wav"
    run = DaemonThread(Daemon(cfg, RunOptions(str(silence), str(out), pace="realtime"), components,
                              [WebSurface(cfg, {})]))
    run.wait_event("ready")
    return run, port, out


@pytest.mark.slow
def test_a_program_talks_over_the_audio_websocket_and_hears_the_reply(
        components: Any, long_silence: Path, wake_and_fixed_reply: Path, tmp_path: Path) -> None:
    run, port, local_out = _daemon(components, long_silence, tmp_path)
    try:
        res = asyncio.run(_talk(f"ws://127.0.0.1:{port}/audio", _pcm(wake_and_fixed_reply)))
        started = run.wait_event("session_started", timeout=5)
        assert started["kind"] == "websocket" and started["peer"] == "127.0.0.1"
        reply = run.wait_event("reply")["text"]
        assert reply.startswith("I can tell you the time"), reply
        heard = components.stt.transcribe_recording(res["audio"])
        assert similarity(reply, heard) >= 0.75, (reply, heard)
        ended = run.wait_event("session_ended", timeout=10)
        assert ended["session"] == started["session"] and ended["reason"] == "closed"
        # The reply went to the session, not to the local speaker (which got nothing, not even the chime).
        run.wait_event("audio_stopped")
        assert not local_out.exists() or len(_pcm(local_out)) == 0 or \
            np.abs(np.frombuffer(_pcm(local_out), "<i2")).max() < 100
        # The floor is the local one again: a question asked now plays on the local speaker.
        n = len(run.events)
        run.call(run.daemon.ask, "What can you do?")
        run.wait_event("audio_stopped", after=n, timeout=120)
        run.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", after=n, timeout=60)
        assert np.abs(np.frombuffer(_pcm(local_out), "<i2")).max() > 1000
    finally:
        run.stop()


@pytest.mark.slow
def test_a_client_that_vanishes_mid_reply_loses_the_floor_within_the_deadline(
        components: Any, long_silence: Path, wake_and_fixed_reply: Path, tmp_path: Path) -> None:
    run, port, local_out = _daemon(components, long_silence, tmp_path, session_timeout_seconds=1.5)
    try:
        res = asyncio.run(_talk(f"ws://127.0.0.1:{port}/audio", _pcm(wake_and_fixed_reply),
                                stop_after_reply_starts=True, timeout=60))
        ended = run.wait_event("session_ended", timeout=30)
        assert ended["reason"] == "no audio for 1.5 s", ended
        assert {"type": "end", "reason": "no audio for 1.5 s"} in res["texts"]
        # The reply it was hearing was cut, and the assistant is back to idle.
        run.wait_event("interrupted", timeout=10)
        run.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", timeout=30)
        n = len(run.events)
        run.call(run.daemon.ask, "What can you do?")
        run.wait_event("audio_stopped", after=n, timeout=120)
        assert np.abs(np.frombuffer(_pcm(local_out), "<i2")).max() > 1000
    finally:
        run.stop()


def test_audio_sessions_refuse_a_second_client_a_bad_token_and_a_foreign_origin(
        components: Any, long_silence: Path, tmp_path: Path) -> None:
    run, port, _ = _daemon(components, long_silence, tmp_path)

    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"ws://127.0.0.1:{port}/audio") as first:
                assert (await first.receive_json(timeout=10))["type"] == "session"
                with pytest.raises(aiohttp.WSServerHandshakeError) as busy:
                    await http.ws_connect(f"ws://127.0.0.1:{port}/audio")
                assert busy.value.status == 409
                await first.send_bytes(b"\x01\x02\x03")  # half a sample too many
                err = await first.receive_json(timeout=10)
                assert err["type"] == "error" and "even number of bytes" in err["message"]
            with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
                await http.ws_connect(f"ws://127.0.0.1:{port}/audio", origin="http://evil.example")
            assert foreign.value.status == 403
            offer = await http.post(f"http://127.0.0.1:{port}/webrtc/offer", data=b"not json")
            assert offer.status == 400 and "must be JSON" in await offer.text()

    try:
        asyncio.run(main())
    finally:
        run.stop()
