"""The whole voice loop through the CLI, as a user runs it: WAV in, events and reply WAV out."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from daemons import Result, run_cli
from helpers import similarity

from panikid.devtools import fixtures

REQUIRED = ["ready", "wake", "speech_started", "speech_stopped", "transcript", "reply", "audio_started", "turn"]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def rms(path: Path) -> float:
    with wave.open(str(path)) as w:
        a = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(a**2))) if a.size else 0.0


def assert_full_turn(res: Result) -> dict:
    assert res.code == 0, res.stderr
    types = [e["type"] for e in res.events]
    for t in REQUIRED:
        assert t in types, f"missing {t!r} event in {types}"
    # In order: wake before speech, speech before the transcript, reply audio after it.
    order = [types.index(t) for t in ["wake", "speech_started", "speech_stopped", "transcript", "audio_started"]]
    assert order == sorted(order), types
    turn = res.of_type("turn")[0]
    # "What time is it?" may be answered by an instant intent instead of the LLM.
    assert turn["backend"] in ("local", "intent") and turn["interrupted"] is False
    keys = ["speech_end_to_first_audio_ms", "eos_to_first_audio_ms", "tts_ttfb_ms"]
    if turn["backend"] == "local":
        keys.append("llm_ttft_ms")
    for key in keys:
        assert isinstance(turn[key], (int, float)) and turn[key] > 0, turn
    # Speech-to-text after the end of the turn: 0 when the transcript made ahead at the pause was used.
    assert isinstance(turn["stt_ms"], (int, float)) and turn["stt_ms"] >= 0, turn
    assert turn["speech_end_to_first_audio_ms"] > turn["eos_to_first_audio_ms"], turn
    assert all(isinstance(e["t"], (int, float)) for e in res.events)
    assert res.of_type("wake")[0]["model"] == "okay_nabu"
    assert 0 < res.of_type("wake")[0]["score"] <= 1
    return turn


@pytest.fixture(scope="module")
def fast_run(wake_and_command: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("loop") / "reply.wav"
    res = run_cli("run", "--input", str(wake_and_command), "--output", str(out), "--pace", "fast", "--events", "-")
    return res, out


def test_wake_then_question_gets_a_spoken_reply(fast_run: tuple[Result, Path]) -> None:
    res, out = fast_run
    assert_full_turn(res)
    transcript = res.of_type("transcript")[0]["text"]
    assert "what time is it" in transcript.lower()
    reply = res.of_type("reply")[0]["text"]
    assert len(words(reply)) >= 2, reply
    assert out.exists() and rms(out) > 300, "reply.wav is silent"


def test_reply_wav_speaks_the_reply(wake_and_fixed_reply: Path, tmp_path: Path) -> None:
    """The output file holds the chime, then the reply: transcribed, it says the reply (a fixed text with no
    numbers, so the check never depends on how speech-to-text writes the time of day)."""
    out = tmp_path / "reply.wav"
    res = run_cli("run", "--input", str(wake_and_fixed_reply), "--output", str(out), "--pace", "fast", "--events", "-")
    assert res.code == 0, res.stderr
    reply = res.of_type("reply")[0]["text"]
    assert reply.startswith("I can tell you the time"), reply
    heard = run_cli("transcribe", str(out))
    assert heard.code == 0, heard.stderr
    assert similarity(reply, heard.stdout) >= 0.75, (reply, heard.stdout)


def test_command_straight_after_the_wake_word_is_kept_whole(wake_no_pause: Path) -> None:
    res = run_cli("run", "--input", str(wake_no_pause), "--pace", "fast", "--events", "-")
    assert_full_turn(res)
    assert "what time is it" in res.of_type("transcript")[0]["text"].lower()


def test_speech_without_wake_word_gets_no_reply(no_wake_speech: Path) -> None:
    res = run_cli("run", "--input", str(no_wake_speech), "--pace", "fast", "--events", "-")
    assert res.code == 0, res.stderr
    types = [e["type"] for e in res.events]
    assert "ready" in types
    for t in ("wake", "transcript", "reply", "audio_started"):
        assert t not in types, types


def test_real_time_pace_is_the_default(wake_and_command: Path, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    res = run_cli("run", "--input", str(wake_and_command), "--output", str(out), "--events", "-")
    assert_full_turn(res)
    # At real-time pace the wake word is heard where it is in the file (lead silence 1 s).
    ready_t = res.of_type("ready")[0]["t"]
    assert res.of_type("wake")[0]["t"] - ready_t >= 1.0
    assert rms(out) > 300


def test_open_wake_word_and_silero_vad(speech_dir: Path, tmp_path: Path) -> None:
    speech = fixtures.read_pcm(fixtures.cached_speech("Hey Jarvis.", speech_dir))
    command = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    wav = fixtures.compose(tmp_path / "jarvis.wav", [1.0, speech, 0.4, command, 1.5])
    cfg = tmp_path / "panikid.toml"
    cfg.write_text('[wake]\nengine = "open"\nmodels = ["hey_jarvis"]\n\n[vad]\nengine = "silero"\n')
    res = run_cli("run", "--config", str(cfg), "--input", str(wav), "--pace", "fast", "--events", "-")
    assert res.code == 0, res.stderr
    assert res.of_type("wake")[0]["model"] == "hey_jarvis"
    assert "what time is it" in res.of_type("transcript")[0]["text"].lower()
    assert res.of_type("turn")


def test_two_turns_in_one_file(speech_dir: Path, tmp_path: Path) -> None:
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    q1 = fixtures.read_pcm(fixtures.cached_speech("What time is it?", speech_dir))
    q2 = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir))
    wav = fixtures.compose(tmp_path / "two.wav", [1.0, wake, 0.4, q1, 3.0, wake, 0.4, q2, 1.5])
    res = run_cli("run", "--input", str(wav), "--pace", "fast", "--events", "-")
    assert res.code == 0, res.stderr
    transcripts = [e["text"].lower() for e in res.of_type("transcript")]
    assert len(transcripts) == 2, transcripts
    assert "what time is it" in transcripts[0] and "france" in transcripts[1]
    # The second question goes through the local LLM, with its latency figures.
    llm_turn = res.of_type("turn")[1]
    assert llm_turn["backend"] == "local" and llm_turn["llm_ttft_ms"] > 0
    assert [t["turn"] for t in res.of_type("turn")] == sorted({t["turn"] for t in res.of_type("turn")})
    assert len(res.of_type("turn")) == 2


def test_wake_word_barges_in_on_a_reply(speech_dir: Path, tmp_path: Path) -> None:
    """A wake word while the reply is playing cuts it; the new question is answered."""
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    story = fixtures.read_pcm(fixtures.cached_speech("Tell me a long story about a dragon and a knight.", speech_dir))
    q2 = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir))
    wav = fixtures.compose(tmp_path / "barge.wav", [1.0, wake, 0.4, story, 3.0, wake, 0.4, q2, 2.0])
    out = tmp_path / "reply.wav"
    res = run_cli("run", "--input", str(wav), "--output", str(out), "--events", "-")  # real time
    assert res.code == 0, res.stderr
    turns = res.of_type("turn")
    assert len(turns) == 2, [e["type"] for e in res.events]
    first, second = turns
    assert first["interrupted"] is True and second["interrupted"] is False
    assert [e["turn"] for e in res.of_type("interrupted")] == [first["turn"]]
    stopped = {e["turn"]: e["interrupted"] for e in res.of_type("audio_stopped")}
    assert stopped == {first["turn"]: True, second["turn"]: False}
    # What was heard of the cut reply is whole sentences of it, never more than the reply.
    heard = next(e["heard_text"] for e in res.of_type("audio_stopped") if e["interrupted"])
    # The cut reply has its reply event, cut while being written or not: it says what was produced.
    (cut,) = [e for e in res.of_type("reply") if e["turn"] == first["turn"]]
    assert set(heard.split()) <= set(cut["text"].split()), (heard, cut)
    assert "france" in res.of_type("transcript")[-1]["text"].lower()


def test_spoken_volume_and_mute_commands_act_on_the_daemon(speech_dir: Path, tmp_path: Path) -> None:
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    volume = fixtures.read_pcm(fixtures.cached_speech("Set the volume to thirty percent.", speech_dir))
    mute = fixtures.read_pcm(fixtures.cached_speech("Mute.", speech_dir))
    question = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir))
    wav = fixtures.compose(tmp_path / "cmds.wav",
                           [1.0, wake, 0.4, volume, 2.0, wake, 0.4, mute, 2.0, wake, 0.4, question, 1.5])
    res = run_cli("run", "--input", str(wav), "--pace", "fast", "--events", "-")
    assert res.code == 0, res.stderr
    assert [e["volume"] for e in res.of_type("volume")] == [30.0]
    assert "muted" in [e["state"] for e in res.of_type("state")]
    # Muted: the third wake word is not acted on.
    assert len(res.of_type("wake")) == 2
    assert all("france" not in e["text"].lower() for e in res.of_type("transcript"))


def test_follow_up_question_needs_no_wake_word(speech_dir: Path, tmp_path: Path) -> None:
    wake = fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, speech_dir))
    q1 = fixtures.read_pcm(fixtures.cached_speech("What is the capital of France?", speech_dir))
    q2 = fixtures.read_pcm(fixtures.cached_speech("And what about Germany?", speech_dir))
    wav = fixtures.compose(tmp_path / "followup.wav", [1.0, wake, 0.4, q1, 1.5, q2, 6.0])
    res = run_cli("run", "--input", str(wav), "--pace", "fast", "--events", "-",
                  env={"PANIKID_CONTEXT_FOLLOW_UP_SECONDS": "4"})
    assert res.code == 0, res.stderr
    assert len(res.of_type("wake")) == 1
    transcripts = [e["text"].lower() for e in res.of_type("transcript")]
    assert len(transcripts) == 2 and "germany" in transcripts[1], transcripts
    assert [e.get("follow_up") for e in res.of_type("listen")][:1] == [True]
    # While it waits for the follow-up question, its state says so (not idle).
    first_stop = next(i for i, e in enumerate(res.events) if e["type"] == "audio_stopped")
    second = next(i for i, e in enumerate(res.events) if e["type"] == "transcript" and "germany" in e["text"].lower())
    states = [e["state"] for e in res.events[first_stop:second] if e["type"] == "state"]
    assert states[:2] == ["idle", "listening"], states  # the reply ended, then it listens (not idle again)
    # After the follow-up's answer, nothing more is said: the window closes with no_speech.
    assert res.of_type("no_speech"), [e["type"] for e in res.events]
    # Without follow-up mode the second question is ignored.
    off = run_cli("run", "--input", str(wav), "--pace", "fast", "--events", "-")
    assert len(off.of_type("transcript")) == 1


def test_low_memory_mode_answers_the_same_turn(wake_and_command: Path, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    res = run_cli("run", "--input", str(wake_and_command), "--output", str(out), "--pace", "fast", "--events", "-",
                  "-v", env={"PANIKID_GENERAL_LOW_MEMORY": "true"})
    assert_full_turn(res)
    assert "low-memory mode: buffers of 1 MiB or more go back to the system when freed" in res.stderr
    assert "what time is it" in res.of_type("transcript")[0]["text"].lower()
    assert rms(out) > 300, "reply.wav is silent"


def test_tune_malloc_takes_effect_in_this_c_library() -> None:
    import subprocess
    import sys

    # In a child process: the setting is process-wide and would slow this test process's own models.
    code = "from panikid.app.memory import tune_malloc; print(tune_malloc(low_memory=True))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "True", res.stderr  # glibc accepted both settings
