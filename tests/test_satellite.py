"""panikid as a Home Assistant Assist satellite, with the ``wyoming`` package's client acting as Home
Assistant: what the satellite says it is, who may connect, bad input on the wire, and whole turns
through the real daemon (PulseAudio microphone and speaker): the wake word and the microphone audio go
to Home Assistant, its reply is played and confirmed; without Home Assistant, panikid answers itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemons import DaemonProcess
from helpers import free_port, similarity
from home_assistant import HomeAssistant
from pulse import PulseServer, pulse_server
from wyoming.audio import AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.pipeline import RunPipeline
from wyoming.satellite import RunSatellite
from wyoming.timer import TimerFinished, TimerStarted
from wyoming.wake import Detection

from panikid import config
from panikid.satellite.describe import satellite_info
from panikid.satellite.link import SatelliteLink
from panikid.satellite.peers import PeerPolicy
from panikid.satellite.wire import WireError, parse_header

# ----------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(("allowed", "host", "ok"), [
    ([], "127.0.0.1", True), ([], "192.168.1.20", True), ([], "10.1.2.3", True), ([], "fe80::1", True),
    ([], "::ffff:192.168.1.20", True), ([], "8.8.8.8", False), ([], "2001:4860::1", False),
    (["192.168.1.10"], "192.168.1.10", True), (["192.168.1.10"], "192.168.1.11", False),
    (["192.168.1.10"], "127.0.0.1", False), (["10.0.0.0/8"], "10.200.0.1", True), ([], "not-an-ip", False),
])
def test_who_may_connect(allowed: list[str], host: str, ok: bool) -> None:
    refusal = PeerPolicy(allowed).refusal(host)
    assert (refusal is None) is ok, refusal
    if not ok:
        assert host.split("::ffff:")[-1] in refusal or "allowed_peers" in refusal


def test_a_bad_peer_list_is_refused_naming_the_key() -> None:
    with pytest.raises(config.ConfigError, match=r"satellite.allowed_peers: got 'kitchen'"):
        config.build({"satellite": {"allowed_peers": ["kitchen"]}})
    assert config.build({"satellite": {"allowed_peers": ["192.168.1.0/24"]}}).satellite.allowed_peers


@pytest.mark.parametrize(("line", "says"), [
    (b"hello\n", "not JSON"), (b"[1, 2]\n", "must be a JSON object"), (b'{"data": {}}\n', 'no "type"'),
    (b'{"type": "x", "data": 3}\n', '"data"'), (b'{"type": "x", "payload_length": -1}\n', "payload_length"),
    (b'{"type": "x", "payload_length": 99999999999}\n', "payload_length"),
    (b'{"type": "x", "data_length": "12"}\n', "data_length"),
])
def test_what_is_not_a_wyoming_event_is_named(line: bytes, says: str) -> None:
    with pytest.raises(WireError, match=says):
        parse_header(line)


def test_the_info_is_what_home_assistant_adopts_as_a_satellite() -> None:
    info = Info.from_event(satellite_info("Kitchen panikid", "Kitchen", ["okay_nabu", "hey_jarvis"], "en").event())
    assert info.satellite is not None and info.satellite.installed  # what makes Home Assistant offer a satellite
    assert info.satellite.name == "Kitchen panikid" and info.satellite.area == "Kitchen"
    assert info.satellite.active_wake_words == ["okay_nabu", "hey_jarvis"]
    phrases = {m.name: m.phrase for program in info.wake for m in program.models}
    assert phrases == {"okay_nabu": "okay nabu", "hey_jarvis": "hey jarvis"}


# ----------------------------------------------------------------------------- the link, over TCP


class Recorder:
    """A SatelliteHandler that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):  # on_run, on_pause, on_transcript, ...
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, args))


async def _link(allowed: list[str] | None = None) -> tuple[SatelliteLink, Recorder, list[object]]:
    published: list[object] = []
    link = SatelliteLink("127.0.0.1", 0, PeerPolicy(allowed or []),
                         lambda: satellite_info("test", "", ["okay_nabu"], "en"), published.append)
    handler = Recorder()
    await link.start(handler)
    return link, handler, published


async def _settle(until, timeout: float = 5.0) -> None:
    for _ in range(round(timeout / 0.02)):
        if until():
            return
        await asyncio.sleep(0.02)


def test_describe_ping_and_run_over_tcp() -> None:
    async def go() -> None:
        link, handler, published = await _link()
        try:
            async with AsyncTcpClient("127.0.0.1", link.bound_port) as ha:
                await ha.write_event(Describe().event())
                info = Info.from_event(await ha.read_event())
                assert info.satellite is not None and info.satellite.name == "test"
                await ha.write_event(Ping(text="x1").event())
                pong = await ha.read_event()
                assert pong.type == "pong" and pong.data["text"] == "x1"
                assert not link.active
                await ha.write_event(RunSatellite().event())
                await _settle(lambda: link.active)
                assert link.active and handler.calls[0][0] == "on_run"
            await _settle(lambda: not link.active)
            assert not link.active and ("on_pause", ("closed by the peer",)) in handler.calls
            statuses = [getattr(p, "status", None) for p in published]
            assert statuses == ["connected", "running", "disconnected"], published
        finally:
            await link.stop()
    asyncio.run(go())


def test_garbage_on_the_wire_closes_that_connection_with_the_reason() -> None:
    async def go() -> None:
        link, _, published = await _link()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", link.bound_port)
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
            writer.close()
            await _settle(lambda: any(getattr(p, "status", "") == "disconnected" for p in published))
            gone = [p for p in published if getattr(p, "status", "") == "disconnected"]
            assert gone and "not the Wyoming protocol" in gone[0].reason and "not JSON" in gone[0].reason
            # The server still answers the next peer.
            async with AsyncTcpClient("127.0.0.1", link.bound_port) as ha:
                await ha.write_event(Describe().event())
                assert (await ha.read_event()).type == "info"
        finally:
            await link.stop()
    asyncio.run(go())


def test_a_peer_not_allowed_is_refused_before_it_can_say_anything() -> None:
    async def go() -> None:
        link, handler, published = await _link(["192.168.1.10"])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", link.bound_port)
            writer.write(b'{"type": "describe"}\n')
            with contextlib.suppress(ConnectionResetError):  # closed at once: a reset when it had sent data
                assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            await _settle(lambda: bool(published))
            assert published[0].status == "refused" and "not in satellite.allowed_peers" in published[0].reason
            assert not handler.calls
        finally:
            await link.stop()
    asyncio.run(go())


def test_a_port_already_taken_is_a_clear_error() -> None:
    async def go() -> None:
        link, _, _ = await _link()
        try:
            other = SatelliteLink("127.0.0.1", link.bound_port, PeerPolicy(), lambda: Info(), lambda _: None)
            with pytest.raises(OSError, match=r"satellite: cannot listen on 127.0.0.1:\d+ \(satellite.host"):
                await other.start(Recorder())
        finally:
            await link.stop()
    asyncio.run(go())


# ----------------------------------------------------------------------------- whole turns, real daemon


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


def _browse(instance: str, timeout: float = 15.0) -> tuple[int, list[str]]:
    """(port, addresses) of ``instance`` as a zeroconf browser on this network sees it."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

    async def go() -> tuple[int, list[str]]:
        zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        names: asyncio.Queue[str] = asyncio.Queue()
        browser = AsyncServiceBrowser(zc.zeroconf, "_wyoming._tcp.local.",
                                      handlers=[lambda zeroconf, service_type, name, state_change:
                                                names.put_nowait(name)])
        try:
            async with asyncio.timeout(timeout):
                while (name := await names.get()) != f"{instance}._wyoming._tcp.local.":
                    pass
            info = AsyncServiceInfo("_wyoming._tcp.local.", name)
            assert await info.async_request(zc.zeroconf, 3000), f"{name} did not answer"
            return int(info.port or 0), info.parsed_addresses()
        finally:
            await browser.async_cancel()
            await zc.async_close()
    return asyncio.run(go())


def _assistant_events(daemon: DaemonProcess, after: int) -> list[str]:
    return [e["type"] for e in daemon.events[after:] if e["type"] in ("transcript", "reply", "intent")]


@pytest.mark.audio
def test_home_assistant_answers_the_turns_panikid_wakes_for(pulse: PulseServer, wake_and_fixed_reply: Path,
                                                            wake_and_command: Path, components) -> None:
    port, device = free_port(), f"sat-{uuid.uuid4().hex[:6]}"
    daemon = DaemonProcess(env={**pulse.env, "PANIKID_GENERAL_DEVICE_ID": device,
                                "PANIKID_SATELLITE_ENABLED": "true", "PANIKID_SATELLITE_PORT": str(port)})
    ha = HomeAssistant("127.0.0.1", port)
    try:
        ready = daemon.wait_event("ready", timeout=120)
        # Found as Home Assistant finds it: zeroconf, on the machine's own address.
        found_port, addresses = _browse(device)
        assert found_port == port and addresses and "127.0.0.1" not in addresses, addresses

        ha.connect()
        info = ha.describe()
        assert info.satellite is not None and info.satellite.installed and info.satellite.name == device
        assert info.satellite.active_wake_words == ["okay_nabu"]
        ha.run_satellite()
        daemon.wait_event(lambda e: e["type"] == "satellite" and e["status"] == "running", timeout=10, after=ready)

        # 1. A wake word: the detection, a pipeline from speech-to-text to text-to-speech, the command's audio.
        mark, start = len(daemon.events), len(ha.received)
        pulse.start_recording()
        pulse.play(wake_and_fixed_reply)
        _, detection = ha.wait("detection", after=start)
        i, run = ha.wait("run-pipeline", after=start)
        _, audio_start = ha.wait("audio-start", after=start)
        assert Detection.from_event(detection).name == "okay_nabu"
        pipeline = RunPipeline.from_event(run)
        assert (pipeline.start_stage.value, pipeline.end_stage.value) == ("asr", "tts")
        fmt = AudioStart.from_event(audio_start)
        assert (fmt.rate, fmt.width, fmt.channels) == (16000, 2, 1)
        command = ha.audio_after(i, seconds=3.0)
        heard = components.stt.transcribe_recording(command)  # Home Assistant's speech-to-text
        assert "what can you do" in heard.lower(), heard
        turn = daemon.wait_event("satellite_turn", timeout=10, after=mark)

        reply = "The kitchen light is on."
        reply_pcm = components.tts.synthesize_all(reply)
        ha.heard(heard)
        ha.say(reply, reply_pcm, components.tts.sample_rate)
        ha.wait("played", timeout=60, after=i)
        stopped = daemon.wait_event("audio_stopped", timeout=10, after=mark)
        time.sleep(0.3)
        speaker = pulse.stop_recording()
        assert stopped["turn"] == turn["turn"] and not stopped["interrupted"]
        said = daemon.wait_event("satellite_heard", timeout=5, after=mark)
        assert said["turn"] == turn["turn"] and said["text"] == heard
        assert daemon.wait_event("satellite_reply", timeout=5, after=mark)["text"] == reply
        assert _assistant_events(daemon, mark) == []  # panikid's own brains did not answer
        heard_back = components.stt.transcribe_recording(speaker)
        assert similarity(reply, heard_back) >= 0.75, heard_back
        daemon.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", timeout=10, after=stopped)

        # 2. Home Assistant finds nothing to do: its error ends the turn, back to idle.
        mark, start = len(daemon.events), len(ha.received)
        pulse.play(wake_and_command)
        ha.wait("run-pipeline", after=start)
        ha.error("No text recognized", "stt-no-text-recognized")
        ended = daemon.wait_event("satellite_ended", timeout=10, after=mark)
        assert ended["reason"] == "error" and ended["code"] == "stt-no-text-recognized"
        daemon.wait_event(lambda e: e["type"] == "state" and e["state"] == "idle", timeout=10, after=ended)

        # 3. An announcement (no turn, no text): played and confirmed.
        mark, start = len(daemon.events), len(ha.received)
        ha.say(None, components.tts.synthesize_all("Dinner is ready."), components.tts.sample_rate)
        ha.wait("played", timeout=60, after=start)
        daemon.wait_event("audio_stopped", timeout=10, after=mark)

        # 4. One of Home Assistant's timers rings: said aloud here.
        mark = len(daemon.events)
        ha.send(TimerStarted(id="t1", total_seconds=300, name="pasta").event(), TimerFinished(id="t1").event())
        timers = [daemon.wait_event(lambda e, s=s: e["type"] == "satellite_timer" and e["status"] == s, timeout=10,
                                    after=mark) for s in ("started", "finished")]
        assert timers[1] == {**timers[1], "timer": "t1", "seconds": 300, "name": "pasta"}
        rung = daemon.wait_event("audio_stopped", timeout=60, after=timers[1])
        assert not rung["interrupted"]

        # 5. A wake word over what Home Assistant says cuts it (Home Assistant hears it was played) and starts
        #    the next turn.
        mark, start = len(daemon.events), len(ha.received)
        long_reply = components.tts.synthesize_all("Here is a long answer. " * 6)
        ha.say(None, long_reply, components.tts.sample_rate)  # an announcement: the same playback
        daemon.wait_event("audio_started", timeout=30, after=mark)
        pulse.play(wake_and_command)
        cut = daemon.wait_event("audio_stopped", timeout=30, after=mark)
        assert cut["interrupted"], cut
        ha.wait("played", timeout=10, after=start)
        ha.wait("run-pipeline", timeout=10, after=start)
        assert len([e for e in daemon.events[mark:] if e["type"] == "satellite_turn"]) == 1
        ha.error("No text recognized", "stt-no-text-recognized")
        daemon.wait_event("satellite_ended", timeout=10, after=cut)

        # 6. Home Assistant goes away: panikid answers the next wake word itself.
        ha.close()
        daemon.wait_event(lambda e: e["type"] == "satellite" and e["status"] == "disconnected", timeout=10,
                          after=mark)
        mark = len(daemon.events)
        pulse.play(wake_and_fixed_reply)
        local = daemon.wait_event("transcript", timeout=60, after=mark)
        assert "what can you do" in local["text"].lower()
        daemon.wait_event("audio_stopped", timeout=60, after=local)
        assert not [e for e in daemon.events[mark:] if e["type"] == "satellite_turn"]
        assert daemon.stop(timeout=15) == 0, daemon.stderr[-2000:]
    finally:
        with contextlib.suppress(Exception):
            ha.close()
        if daemon.proc.poll() is None:
            daemon.proc.kill()
