"""``panikid bench``: latency, CPU and memory figures on generated speech.

Everything is measured on this machine with the configured models; nothing is
downloaded. Figures are reported (median and p95), never judged: they go in the
README, not in pass/fail tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__, fixtures
from .components import Components, load_all
from .config import Config
from .daemon import Daemon, RunOptions
from .events import EventBus
from .frames import SAMPLE_RATE
from .llm import AssistantProcessor
from .pipeline import Pipeline, PipelineRunner
from .sentences import split_sentences
from .transports.file import FileInputTransport
from .turn import TurnDetector
from .wake import WakeWordProcessor

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


async def _voice_turns(cfg: Config, comps: Components, wavs: list[Path]) -> list[dict[str, Any]]:
    """One daemon run per utterance (real-time microphone pace), models loaded once."""
    turns: list[dict[str, Any]] = []
    for wav in wavs:
        daemon = Daemon(cfg, RunOptions(input_wav=str(wav), output_wav=None, pace="realtime"), comps)
        await daemon.run()
        turns.extend(daemon.metrics.completed)
    return turns


async def _idle_cpu(cfg: Config, comps: Components, seconds: float, work_dir: Path) -> float:
    """CPU used (% of one core) while listening for the wake word to quiet room noise."""
    import numpy as np

    rng = np.random.default_rng(7)
    noise = (rng.normal(0, 60, int(seconds * SAMPLE_RATE))).clip(-32768, 32767).astype(np.int16)
    wav = fixtures.write_pcm(work_dir / "idle.wav", noise)
    pipeline = Pipeline([
        FileInputTransport(wav, pace="realtime", frame_ms=cfg.audio.frame_ms),
        WakeWordProcessor(comps.wake, cfg.wake.threshold, cfg.wake.cooldown_seconds),
        TurnDetector(comps.vad, comps.segmenter(cfg), cfg.vad.pre_roll_seconds),
    ])
    runner = PipelineRunner(pipeline, EventBus())
    await runner.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await runner.wait_ended(seconds + 30)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await runner.cancel()
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


def _tts(comps: Components, replies: list[str]) -> list[float]:
    out = []
    for reply in replies:
        sentences = split_sentences(reply) or [reply]
        started = time.perf_counter()
        next(iter(comps.tts.synthesize(sentences[0])), None)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(cfg: Config, turns: int = 5, idle_seconds: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="panikid-bench-") as tmp:
        work = Path(tmp)
        _progress("generating test speech with piper")
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(max(1, turns))]
        utterances = [fixtures.utterance(work, q, pause=0.3, lead=0.5, tail=1.2) for q in questions]
        commands = [fixtures.cached_speech(q, work) for q in questions]
        _progress("loading models")
        started = time.perf_counter()
        comps = load_all(cfg)
        load_s = time.perf_counter() - started
        _progress(f"measuring {len(utterances)} voice turns at real-time pace")
        voice = asyncio.run(_voice_turns(cfg, comps, utterances))
        _progress("measuring speech-to-text")
        rtf = _stt_rtf(comps, commands)
        _progress("measuring the language model")
        ttft, rates, replies = _llm(cfg, comps)
        _progress("measuring text-to-speech")
        tts = _tts(comps, replies)
        _progress(f"measuring idle CPU for {idle_seconds:.0f} s")
        idle = asyncio.run(_idle_cpu(cfg, comps, idle_seconds, work))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    eos = [t["eos_to_first_audio_ms"] for t in voice if t.get("eos_to_first_audio_ms") is not None]
    return {
        "panikid": __version__,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
                    "python": platform.python_version()},
        "models": {"wake": cfg.wake.models, "vad": cfg.vad.engine, "stt": cfg.stt.model,
                   "llm": cfg.llm.model, "tts": cfg.tts.voice},
        "model_load_s": round(load_s, 2),
        "turns_requested": len(utterances),
        "turns_completed": len(voice),
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
        "idle_cpu_percent_of_one_core": idle,
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
        ("end of speech -> first audio", ms("eos_to_first_audio_ms")),
        *[(f"  answered by {b}", f"median {st['median']} ms, p95 {st['p95']} ms (n={st['n']})")
          for b, st in r["eos_to_first_audio_ms_by_backend"].items()],
        ("  of which STT", ms("stt_ms_in_turn")),
        ("  of which LLM first token", ms("llm_ttft_ms_in_turn")),
        ("  of which TTS first audio", ms("tts_ttfb_ms_in_turn")),
        ("STT real-time factor", f"median {r['stt_rtf']['median']} (n={r['stt_rtf']['n']})"),
        ("LLM time to first token", ms("llm_ttft_ms")),
        ("LLM tokens/s", f"median {r['llm_tokens_per_s']['median']} (n={r['llm_tokens_per_s']['n']})"),
        ("TTS time to first audio", ms("tts_first_audio_ms")),
        ("idle CPU (wake word listening)", f"{r['idle_cpu_percent_of_one_core']} % of one core"),
        ("peak RSS", f"{r['peak_rss_mb']} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def run_bench(cfg: Config, as_json: bool = False, turns: int = 5, idle_seconds: float = 10.0) -> int:
    result = measure(cfg, turns, idle_seconds)
    print(json.dumps(result, indent=2) if as_json else format_table(result))
    return 0 if result["turns_completed"] > 0 else 1
