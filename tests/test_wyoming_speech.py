"""Remote speech over Wyoming: panikid's engines against real wyoming-faster-whisper and wyoming-piper servers
(started here, with panikid's own bundled models), their fallback to the local engines when a server dies
or hangs, and the policy that decides when a failed server is tried again."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemons import run_cli
from helpers import free_port, similarity
from wyoming_servers import WyomingServer, bundled, piper_server, whisper_server

from panikid import config
from panikid.devtools import fixtures
from panikid.speech.remote import MAX_RETRY_SECONDS, RETRY_SECONDS, RemotePolicy
from panikid.speech.stt.whisper import WhisperEngine
from panikid.speech.stt.wyoming import WyomingSttEngine
from panikid.speech.tts.piper import PiperEngine
from panikid.speech.tts.wyoming import WyomingTtsEngine

COMMAND = "Turn on the kitchen light."


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WyomingServer, WyomingServer]]:
    d = tmp_path_factory.mktemp("wyoming")
    stt, tts = whisper_server(d), piper_server(d)
    try:
        started = time.monotonic()
        stt.start()
        tts.start()
        print(f"both servers listening {time.monotonic() - started:.2f} s after their start")
        yield stt, tts
    finally:
        stt.stop()
        tts.stop()


@pytest.fixture(scope="module")
def whisper() -> WhisperEngine:
    return WhisperEngine(bundled("stt", "tiny.en"))


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine(bundled("tts", "en_US-joe-medium"))


@pytest.fixture(scope="module")
def command_pcm(speech_dir: Path) -> bytes:
    """The command as the turn detector hands it on: with a little silence on each side (the pre-roll)."""
    pad = fixtures.silence(0.3).tobytes()
    return pad + fixtures.read_pcm(fixtures.cached_speech(COMMAND, speech_dir)).tobytes() + pad


def assert_said_the_command(text: str) -> None:
    """Most of its letters: piper's voice varies from one run to the next, and tiny.en with it."""
    assert similarity(text, COMMAND) >= 0.8, f"heard {text!r} for {COMMAND!r}"


class Clock:
    """A clock the test moves (for the retry policy); it starts at the real monotonic time."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the policy (pure)

def test_a_failed_server_is_skipped_for_longer_after_each_failure_and_back_after_a_success() -> None:
    p = RemotePolicy()
    assert p.use_remote(0.0)
    assert p.record_failure(100.0) == RETRY_SECONDS
    assert not p.use_remote(100.0 + RETRY_SECONDS - 0.1) and p.use_remote(100.0 + RETRY_SECONDS)
    assert p.record_failure(200.0) == 2 * RETRY_SECONDS
    assert p.skipped_for(200.0) == 2 * RETRY_SECONDS
    for _ in range(20):
        wait = p.record_failure(300.0)
    assert wait == MAX_RETRY_SECONDS
    p.record_success(301.0)
    assert p.use_remote(301.0) and p.failures == 0
    assert p.record_failure(400.0) == RETRY_SECONDS  # a fresh start after the success


# ---------------------------------------------------------------- speech-to-text

def test_the_remote_server_transcribes_the_utterance(servers: tuple[WyomingServer, WyomingServer],
                                                     whisper: WhisperEngine, command_pcm: bytes) -> None:
    stt_server, _ = servers
    engine = WyomingSttEngine("127.0.0.1", stt_server.port, whisper, "en", timeout_seconds=30.0)
    started = time.perf_counter()
    heard = engine.hear(command_pcm)
    print(f"remote transcript in {(time.perf_counter() - started) * 1000:.0f} ms: {heard.text!r}")
    assert heard.engine == "wyoming"
    assert_said_the_command(heard.text)
    assert stt_server.proc is not None and stt_server.proc.poll() is None


def test_a_killed_stt_server_falls_back_to_the_local_model_and_is_skipped_then_tried_again(
        tmp_path: Path, whisper: WhisperEngine, command_pcm: bytes) -> None:
    server = whisper_server(tmp_path).start()
    clock = Clock()
    engine = WyomingSttEngine("127.0.0.1", server.port, whisper, "en", timeout_seconds=30.0, clock=clock)
    try:
        assert engine.hear(command_pcm).engine == "wyoming"
        server.kill()
        started = time.perf_counter()
        heard = engine.hear(command_pcm)
        print(f"server dead: the local model answered in {(time.perf_counter() - started) * 1000:.0f} ms")
        assert heard.engine == "whisper"
        assert_said_the_command(heard.text)
        assert not engine.policy.use_remote(clock())  # skipped: the next turn does not even try
        # Back up on the same port: once the retry time has passed, the server answers again.
        server.start()
        clock.now += RETRY_SECONDS
        assert engine.hear(command_pcm).engine == "wyoming"
        assert engine.policy.failures == 0
    finally:
        server.stop()


def test_a_server_that_accepts_and_says_nothing_is_given_up_at_the_deadline(
        whisper: WhisperEngine, command_pcm: bytes) -> None:
    with silent_server() as port:
        engine = WyomingSttEngine("127.0.0.1", port, whisper, "en", timeout_seconds=1.0)
        started = time.perf_counter()
        heard = engine.hear(command_pcm)
        took = time.perf_counter() - started
    print(f"silent server: the local transcript came {took * 1000:.0f} ms after the request (deadline 1 s)")
    assert heard.engine == "whisper"
    assert_said_the_command(heard.text)
    assert took >= 1.0  # it did wait for the server, then gave up
    assert engine.policy.failures == 1


# ---------------------------------------------------------------- text-to-speech

def test_the_remote_server_speaks_streaming_at_the_local_voice_rate(
        servers: tuple[WyomingServer, WyomingServer], piper: PiperEngine, whisper: WhisperEngine) -> None:
    _, tts_server = servers
    engine = WyomingTtsEngine("127.0.0.1", tts_server.port, piper, timeout_seconds=30.0)
    assert engine.sample_rate == piper.sample_rate == 22050
    pcm, spoken_by = engine.speak(COMMAND)
    assert spoken_by == "wyoming" and engine.streaming is True
    assert engine.remote_rate == 22050 and len(pcm) / 2 / engine.sample_rate > 1.0
    heard = whisper.transcribe_recording(_to_16k(pcm, engine.sample_rate))
    assert_said_the_command(heard)


def test_the_remote_voice_is_converted_to_the_rate_the_output_plays(
        servers: tuple[WyomingServer, WyomingServer], piper: PiperEngine, whisper: WhisperEngine) -> None:
    """An output opened at 16 kHz (a local voice at that rate): the server's 22.05 kHz audio is resampled."""
    _, tts_server = servers
    engine = WyomingTtsEngine("127.0.0.1", tts_server.port, piper, timeout_seconds=30.0, sample_rate=16000)
    pcm = engine.synthesize_all(COMMAND)
    assert engine.remote_rate == 22050
    heard = whisper.transcribe_recording(pcm)  # whisper takes 16 kHz as it is: right only if resampled
    assert_said_the_command(heard)


def test_a_server_without_streaming_gets_one_synthesize_per_sentence(
        tmp_path: Path, piper: PiperEngine, whisper: WhisperEngine) -> None:
    server = piper_server(tmp_path, streaming=False).start()
    try:
        engine = WyomingTtsEngine("127.0.0.1", server.port, piper, timeout_seconds=30.0, sample_rate=16000)
        pcm, spoken_by = engine.speak(COMMAND)
        assert spoken_by == "wyoming" and engine.streaming is False
        assert_said_the_command(whisper.transcribe_recording(pcm))
    finally:
        server.stop()


def test_a_killed_tts_server_falls_back_to_the_local_voice(tmp_path: Path, piper: PiperEngine,
                                                           whisper: WhisperEngine) -> None:
    server = piper_server(tmp_path).start()
    clock = Clock()
    engine = WyomingTtsEngine("127.0.0.1", server.port, piper, timeout_seconds=30.0, clock=clock)
    try:
        assert engine.speak("Hello.")[1] == "wyoming"
        server.kill()
        started = time.perf_counter()
        pcm, spoken_by = engine.speak(COMMAND)
        print(f"server dead: the local voice spoke in {(time.perf_counter() - started) * 1000:.0f} ms")
        assert spoken_by == "piper"
        assert_said_the_command(whisper.transcribe_recording(_to_16k(pcm, engine.sample_rate)))
        assert not engine.policy.use_remote(clock()) and engine.streaming is None
        server.start()
        clock.now += RETRY_SECONDS
        assert engine.speak("Hello.")[1] == "wyoming"
    finally:
        server.stop()


def test_a_tts_server_that_accepts_and_says_nothing_is_given_up_at_the_first_audio_deadline(
        piper: PiperEngine) -> None:
    with silent_server() as port:
        engine = WyomingTtsEngine("127.0.0.1", port, piper, timeout_seconds=1.0)
        started = time.perf_counter()
        pcm, spoken_by = engine.speak(COMMAND)
        took = time.perf_counter() - started
    print(f"silent server: the local voice had spoken {took * 1000:.0f} ms after the request (deadline 1 s)")
    assert spoken_by == "piper" and len(pcm) / 2 / engine.sample_rate > 1.0
    assert took >= 1.0 and engine.policy.failures == 1


def test_a_tts_server_that_stops_mid_sentence_has_the_whole_sentence_spoken_locally(
        piper: PiperEngine, whisper: WhisperEngine, caplog: pytest.LogCaptureFixture) -> None:
    """A stand-in speaking the real wire format (the wyoming library's own server) sends the start of the audio
    and closes the connection: nothing of it is kept, the local voice speaks the whole sentence."""
    with broken_tts_server() as port:
        engine = WyomingTtsEngine("127.0.0.1", port, piper, timeout_seconds=5.0)
        pcm, spoken_by = engine.speak(COMMAND)
    assert spoken_by == "piper"
    assert_said_the_command(whisper.transcribe_recording(_to_16k(pcm, engine.sample_rate)))
    assert any("closed the connection before the rest of the sentence" in r.getMessage() for r in caplog.records)


def test_a_tts_server_that_sends_no_audio_for_words_has_the_local_voice_speak_them(piper: PiperEngine) -> None:
    with broken_tts_server(silent=True) as port:
        engine = WyomingTtsEngine("127.0.0.1", port, piper, timeout_seconds=5.0)
        pcm, spoken_by = engine.speak(COMMAND)
    assert spoken_by == "piper" and len(pcm) / 2 / engine.sample_rate > 1.0


# ---------------------------------------------------------------- panikid check

def test_check_says_whether_each_server_answers_and_offers_what_it_is_used_for(
        servers: tuple[WyomingServer, WyomingServer]) -> None:
    from panikid.doctor.remote import remote_findings

    stt_server, tts_server = servers
    cfg = config.build({"stt": {"engine": "wyoming", "uri": stt_server.uri},
                        "tts": {"engine": "wyoming", "uri": tts_server.uri}})
    stt, tts = remote_findings(cfg)
    assert stt.ok and stt.what == f"stt.uri = {stt_server.uri}" and "faster-whisper" in stt.detail, stt
    assert tts.ok and "piper" in tts.detail and "streaming" in tts.detail, tts
    dead = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.build({"stt": {"engine": "wyoming", "uri": tts_server.uri}, "tts": {"engine": "wyoming", "uri": dead}})
    wrong, gone = remote_findings(cfg)
    assert not wrong.ok and "offers no speech-to-text" in wrong.detail, wrong
    assert not gone.ok and "does not answer" in gone.detail and "local piper engine answers" in gone.fix, gone
    assert remote_findings(config.build({})) == []  # no remote engine, nothing to check


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize(("section", "uri"), [
    ("stt", ""), ("stt", "192.168.1.20:10300"), ("stt", "http://box:10300"), ("tts", "tcp://box"),
    ("tts", "tcp://box:70000"), ("tts", "tcp://box:10200/voice"),
])
def test_a_bad_uri_is_a_configuration_error_naming_the_key(section: str, uri: str) -> None:
    with pytest.raises(config.ConfigError, match=rf"^{section}\.uri: .*tcp://HOST:PORT"):
        config.build({section: {"engine": "wyoming", "uri": uri}})


def test_the_readme_configuration_for_a_bigger_box_is_valid() -> None:
    import re
    import tomllib

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Use a bigger box on the LAN"):]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None
    cfg = config.build(tomllib.loads(block.group(1).replace("BOX", "192.168.1.20")))
    assert (cfg.stt.engine, cfg.tts.engine, cfg.cloud.provider) == ("wyoming", "wyoming", "openai")
    assert config.tcp_uri("stt.uri", cfg.stt.uri) == ("192.168.1.20", 10300)


def test_the_cli_refuses_a_bad_uri_with_exit_status_2(tmp_path: Path) -> None:
    cfg = tmp_path / "panikid.toml"
    cfg.write_text('[stt]\nengine = "wyoming"\nuri = "box:10300"\n')
    res = run_cli("transcribe", "--config", str(cfg), str(tmp_path / "none.wav"), timeout=60)
    assert res.code == 2 and "stt.uri" in res.stderr and "tcp://HOST:PORT" in res.stderr, res.stderr


# ---------------------------------------------------------------- helpers

def _to_16k(pcm: bytes, rate: int) -> bytes:
    from panikid.audio.convert import resample_pcm16

    return resample_pcm16(pcm, rate, 16000)


class silent_server:
    """A TCP server that accepts connections and never answers (a hung server)."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.listen(8)
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


class broken_tts_server:
    """A Wyoming TTS server (wyoming.server) that answers ``describe`` as a non-streaming piper would, then sends
    ``audio-start`` and one chunk of silence for a ``synthesize`` and closes the connection; ``silent``: sends
    ``audio-start`` and ``audio-stop`` and nothing between (a voice that cannot say the text)."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent

    def __enter__(self) -> int:
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
        from wyoming.event import Event
        from wyoming.info import Attribution, Describe, Info, TtsProgram
        from wyoming.server import AsyncEventHandler, AsyncServer
        from wyoming.tts import Synthesize

        info = Info(tts=[TtsProgram(name="broken", description="", attribution=Attribution(name="", url=""),
                                    installed=True, version=None, voices=[])])

        silent = self.silent

        class Handler(AsyncEventHandler):
            async def handle_event(self, event: Event) -> bool:
                if Describe.is_type(event.type):
                    await self.write_event(info.event())
                    return True
                if Synthesize.is_type(event.type) and silent:
                    await self.write_event(AudioStart(rate=22050, width=2, channels=1).event())
                    await self.write_event(AudioStop().event())
                    return True
                if Synthesize.is_type(event.type):
                    await self.write_event(AudioStart(rate=22050, width=2, channels=1).event())
                    await self.write_event(AudioChunk(rate=22050, width=2, channels=1, audio=bytes(4410)).event())
                    return False  # gone mid-sentence
                return True

        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server = AsyncServer.from_uri(f"tcp://127.0.0.1:{self.port}")
        self.loop.run_until_complete(self.server.start(Handler))  # listening from here on
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self.port

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()
