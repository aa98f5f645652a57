"""``panikid bench``: latency, CPU and memory figures on generated speech.

Everything is measured on this machine with the configured models; nothing is
downloaded. Figures are reported (median and p95), never judged: they go in the
README, not in pass/fail tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .app.components import Components, load_all
from .audio.frontend import CleanerSettings, InputCleaner
from .brains.processor import AssistantProcessor
from .config import Config
from .devtools import fixtures
from .events.schema import Ready, TurnSummary
from .frontend.processors import cleaner_settings
from .pipeline.frames import SAMPLE_RATE
from .text.sentences import split_sentences

QUESTIONS = [
    "What is the capital of France?",
    "What time is it?",
    "Tell me a fun fact about cats.",
    "How are you today?",
    "What should I cook for dinner?",
    "What day is it today?",
    "Why is the sky blue?",
    "Give me a word that rhymes with moon.",
]


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


def _p95(xs: list[float]) -> float | None:
    if not xs:
        return None
    ordered = sorted(xs)
    return round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 1)


def _stats(xs: list[float]) -> dict[str, Any]:
    return {"median": _median(xs), "p95": _p95(xs), "n": len(xs)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _progress(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def _daemon(cfg_path: Path | None, wav: Path) -> subprocess.Popen[str]:
    """``panikid run`` on a WAV at real-time pace, as a user runs it (events on stdout)."""
    args = [sys.executable, "-m", "panikid", "run", "--input", str(wav), "--events", "-"]
    if cfg_path is not None:
        args += ["--config", str(cfg_path)]
    env = {**os.environ, "PANIKID_WEB_ENABLED": "0", "PANIKID_MQTT_ENABLED": "0"}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _voice_turns(cfg_path: Path | None, wav: Path, timeout: float) -> tuple[list[dict[str, Any]], float]:
    """One daemon answers every question in ``wav``; returns its turn events and its peak RSS (MB)."""
    proc = _daemon(cfg_path, wav)
    turns: list[dict[str, Any]] = []
    peak = 0.0
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                if event["type"] == TurnSummary.type:
                    turns.append(event)
                with contextlib.suppress(OSError):
                    peak = max(peak, _peak_rss_mb(proc.pid))
            if time.monotonic() > deadline:
                break
    finally:
        with contextlib.suppress(OSError):
            peak = max(peak, _peak_rss_mb(proc.pid))
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
    return turns, peak


def _idle_cpu(cfg_path: Path | None, seconds: float, work_dir: Path) -> float:
    """CPU the daemon uses (% of one core) while listening for the wake word to quiet room noise."""
    import numpy as np

    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 60, int((seconds + 30) * SAMPLE_RATE))).clip(-32768, 32767).astype(np.int16)
    wav = fixtures.write_pcm(work_dir / "idle.wav", noise)
    proc = _daemon(cfg_path, wav)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # measuring starts once the models are loaded
            if line.startswith("{") and json.loads(line)["type"] == Ready.type:
                break
        time.sleep(1.0)  # let the warm-up's threads settle
        cpu0, wall0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu, wall = _cpu_seconds(proc.pid) - cpu0, time.monotonic() - wall0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return round(100 * cpu / wall, 2)


def _stt_rtf(comps: Components, wavs: list[Path]) -> list[float]:
    out = []
    for wav in wavs:
        pcm = fixtures.read_pcm(wav).tobytes()
        started = time.perf_counter()
        comps.stt.transcribe(pcm)
        out.append((time.perf_counter() - started) / (len(pcm) / 2 / SAMPLE_RATE))
    return out


def _llm(cfg: Config, comps: Components) -> tuple[list[float], list[float], list[str]]:
    ttfts, rates, replies = [], [], []
    prompt = AssistantProcessor(comps.llm, cfg.llm.system_prompt)
    for q in QUESTIONS:
        started = time.perf_counter()
        first = last = None
        n = 0
        parts = []
        for piece in comps.llm.stream(prompt.messages_for(q), threading.Event()):
            now = time.perf_counter()
            first = first or now
            last = now
            n += 1
            parts.append(piece)
        if first is None or last is None:
            continue
        ttfts.append((first - started) * 1000)
        if n > 1 and last > first:
            rates.append((n - 1) / (last - first))
        replies.append("".join(parts))
    return ttfts, rates, replies


def _dead_cloud(cfg: Config, comps: Components, runs: int = 3) -> list[float]:
    """Cloud-first with a cloud that never accepts the connection: ms until the local model's first words."""
    import socket

    from . import config as config_mod
    from .brains.factory import build_cloud
    from .brains.router import Router

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue: further connections hang, as to a host that is down
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    try:
        dead = config_mod.replace(cfg, cloud={"provider": "openai", "model": "m",
                                              "base_url": f"http://127.0.0.1:{port}/v1"})
        router = Router(comps.llm, build_cloud(dead), policy="cloud-first",
                        first_token_seconds=cfg.router.first_token_seconds, total_seconds=cfg.router.total_seconds,
                        failure_threshold=10**6)
        prompt = AssistantProcessor(comps.llm, cfg.llm.system_prompt)
        out = []
        for q in QUESTIONS[:runs]:
            started = time.perf_counter()
            for _ in router.stream(prompt.messages_for(q), threading.Event()):
                out.append((time.perf_counter() - started) * 1000)
                break
        return out
    finally:
        for c in fillers:
            c.close()
        srv.close()


def _tts(comps: Components, replies: list[str]) -> list[float]:
    out = []
    for reply in replies:
        sentences = split_sentences(reply) or [reply]
        started = time.perf_counter()
        next(iter(comps.tts.synthesize(sentences[0])), None)
        out.append((time.perf_counter() - started) * 1000)
    return out


FRONTEND_SETTINGS = {
    "high-pass": CleanerSettings(high_pass=True),
    "high-pass + noise suppression": CleanerSettings(high_pass=True, noise_suppression=True),
    "high-pass + noise suppression + AGC2": CleanerSettings(high_pass=True, noise_suppression=True, auto_gain=True),
}


def _frontend_cost(speech: Path, frame_ms: int, seconds: float = 20.0) -> dict[str, dict[str, float]]:
    """Per setting: the median time per capture frame (us) and the share of one core it takes."""
    pcm = fixtures.read_pcm(speech)
    noisy = (np.resize(pcm, int(seconds * SAMPLE_RATE)).astype(np.float64)
             + np.random.default_rng(3).normal(0, 300, int(seconds * SAMPLE_RATE)))
    data = np.clip(noisy, -32768, 32767).astype("<i2").tobytes()
    step = SAMPLE_RATE * frame_ms // 1000 * 2
    out = {}
    for name, settings in FRONTEND_SETTINGS.items():
        cleaner = InputCleaner(settings)
        times = []
        for i in range(0, len(data) - step + 1, step):
            t0 = time.perf_counter()
            cleaner.process(data[i:i + step])
            times.append(time.perf_counter() - t0)
        out[name] = {"us_per_frame": round(statistics.median(times) * 1e6, 1),
                     "percent_of_one_core": round(100 * sum(times) / seconds, 2)}
    return out


def measure(cfg: Config, turns: int = 5, idle_seconds: float = 10.0) -> dict[str, Any]:
    """Voice turns, idle CPU and peak RSS of a real ``panikid run`` process; per-stage figures in-process."""
    cfg_path = Path(cfg.source) if cfg.source != "built-in defaults" else None
    with tempfile.TemporaryDirectory(prefix="panikid-bench-") as tmp:
        work = Path(tmp)
        _progress("generating test speech with piper")
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(max(1, turns))]
        parts: list[Any] = [0.5]
        for q in questions:  # room for each reply before the next question
            parts += [fixtures.read_pcm(fixtures.cached_speech(fixtures.WAKE_PHRASE, work)), 0.3,
                      fixtures.read_pcm(fixtures.cached_speech(q, work)), 7.0]
        session = fixtures.compose(work / "session.wav", parts)
        commands = [fixtures.cached_speech(q, work) for q in questions]
        _progress(f"running the daemon on {len(questions)} questions at real-time pace")
        voice, peak_rss_mb = _voice_turns(cfg_path, session, timeout=60 + 15 * len(questions))
        _progress(f"measuring the daemon's idle CPU for {idle_seconds:.0f} s")
        idle = _idle_cpu(cfg_path, idle_seconds, work)
        _progress("loading models for the per-stage figures")
        started = time.perf_counter()
        comps = load_all(cfg)
        load_s = time.perf_counter() - started
        _progress("measuring speech-to-text")
        rtf = _stt_rtf(comps, commands)
        _progress("measuring the language model")
        ttft, rates, replies = _llm(cfg, comps)
        _progress("measuring text-to-speech")
        tts = _tts(comps, replies)
        _progress("measuring the fallback from a dead cloud")
        dead = _dead_cloud(cfg, comps)
        _progress("measuring the audio front end")
        frontend = _frontend_cost(commands[0], cfg.audio.frame_ms)
    eos = [t["eos_to_first_audio_ms"] for t in voice if t.get("eos_to_first_audio_ms") is not None]
    felt = [t["speech_end_to_first_audio_ms"] for t in voice if t.get("speech_end_to_first_audio_ms") is not None]
    return {
        "panikid": __version__,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
                    "python": platform.python_version()},
        "models": {"wake": cfg.wake.models, "vad": cfg.vad.engine, "stt": cfg.stt.model,
                   "llm": cfg.llm.model, "tts": cfg.tts.voice},
        "model_load_s": round(load_s, 2),
        "turns_requested": len(questions),
        "turns_completed": len(voice),
        "speech_end_to_first_audio_ms": _stats(felt),
        "speech_end_to_first_audio_ms_by_backend": {
            backend: _stats([t["speech_end_to_first_audio_ms"] for t in voice
                             if t.get("backend") == backend and t.get("speech_end_to_first_audio_ms") is not None])
            for backend in sorted({str(t.get("backend")) for t in voice})
        },
        "eos_to_first_audio_ms": _stats(eos),
        "eos_to_first_audio_ms_by_backend": {
            backend: _stats([t["eos_to_first_audio_ms"] for t in voice
                             if t.get("backend") == backend and t.get("eos_to_first_audio_ms") is not None])
            for backend in sorted({str(t.get("backend")) for t in voice})
        },
        "stt_ms_in_turn": _stats([t["stt_ms"] for t in voice if t.get("stt_ms") is not None]),
        "llm_ttft_ms_in_turn": _stats([t["llm_ttft_ms"] for t in voice if t.get("llm_ttft_ms") is not None]),
        "tts_ttfb_ms_in_turn": _stats([t["tts_ttfb_ms"] for t in voice if t.get("tts_ttfb_ms") is not None]),
        "stt_rtf": {"median": round(statistics.median(rtf), 3) if rtf else None, "n": len(rtf)},
        "llm_ttft_ms": _stats(ttft),
        "llm_tokens_per_s": {"median": _median(rates), "n": len(rates)},
        "tts_first_audio_ms": _stats(tts),
        "dead_cloud_to_local_first_words_ms": _stats(dead),
        "cloud_connect_deadline_s": cfg.cloud.connect_seconds,
        "idle_cpu_percent_of_one_core": idle,
        "frontend": {"frame_ms": cfg.audio.frame_ms, "configured": cleaner_settings(cfg.frontend).describe(),
                     "cost": frontend},
        "peak_rss_mb": round(peak_rss_mb, 1),
    }


def format_table(r: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        s = r[key]
        return f"median {s['median']} ms, p95 {s['p95']} ms (n={s['n']})"

    rows = [
        ("machine", f"{r['machine']['cpu']}, {r['machine']['cores']} cores, {r['machine']['arch']}"),
        ("models", ", ".join(f"{k}={v}" for k, v in r["models"].items())),
        ("model load", f"{r['model_load_s']} s"),
        ("voice turns", f"{r['turns_completed']} of {r['turns_requested']} completed"),
        ("end of the last word -> first audio", ms("speech_end_to_first_audio_ms")),
        *[(f"  answered by {b}", f"median {st['median']} ms, p95 {st['p95']} ms (n={st['n']})")
          for b, st in r["speech_end_to_first_audio_ms_by_backend"].items()],
        ("end of speech decided -> first audio", ms("eos_to_first_audio_ms")),
        *[(f"  answered by {b}", f"median {st['median']} ms, p95 {st['p95']} ms (n={st['n']})")
          for b, st in r["eos_to_first_audio_ms_by_backend"].items()],
        ("  of which STT", ms("stt_ms_in_turn")),
        ("  of which LLM first token", ms("llm_ttft_ms_in_turn")),
        ("  of which TTS first audio", ms("tts_ttfb_ms_in_turn")),
        ("STT real-time factor", f"median {r['stt_rtf']['median']} (n={r['stt_rtf']['n']})"),
        ("LLM time to first token", ms("llm_ttft_ms")),
        ("LLM tokens/s", f"median {r['llm_tokens_per_s']['median']} (n={r['llm_tokens_per_s']['n']})"),
        ("TTS time to first audio", ms("tts_first_audio_ms")),
        (f"dead cloud -> local first words (connect deadline {r['cloud_connect_deadline_s']} s)",
         ms("dead_cloud_to_local_first_words_ms")),
        (f"idle CPU (wake word listening; front end: {r['frontend']['configured']})",
         f"{r['idle_cpu_percent_of_one_core']} % of one core"),
        *[(f"front end: {name}", f"{c['us_per_frame']} us per {r['frontend']['frame_ms']} ms frame, "
           f"{c['percent_of_one_core']} % of one core") for name, c in r["frontend"]["cost"].items()],
        ("peak RSS of the daemon", f"{r['peak_rss_mb']} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def run_bench(cfg: Config, as_json: bool = False, turns: int = 5, idle_seconds: float = 10.0) -> int:
    result = measure(cfg, turns, idle_seconds)
    print(json.dumps(result, indent=2) if as_json else format_table(result))
    return 0 if result["turns_completed"] > 0 else 1
