"""``panikid check``: do the remote speech servers (``stt.engine``/``tts.engine`` = 'wyoming') answer?"""

from __future__ import annotations

from ..config import Config, tcp_uri
from .checks import Finding


def remote_findings(cfg: Config, timeout: float = 3.0) -> list[Finding]:
    """One finding per remote speech server: it answers ``describe`` and offers what it is used for."""
    from ..speech.wyoming_client import RemoteError, describe

    out = []
    for section, engine, uri, role, local in (("stt", cfg.stt.engine, cfg.stt.uri, "asr", "whisper"),
                                              ("tts", cfg.tts.engine, cfg.tts.uri, "tts", "piper")):
        kind = "speech-to-text" if role == "asr" else "text-to-speech"
        if engine != "wyoming":
            continue
        what = f"{section}.uri = {uri}"
        fix = (f"start the server on that machine (or correct {section}.uri in {cfg.source}); meanwhile the local "
               f"{local} engine answers")
        try:
            info = describe(*tcp_uri(f"{section}.uri", uri), timeout=timeout)
        except RemoteError as exc:
            out.append(Finding(False, what, f"does not answer ({exc})", fix))
            continue
        programs = getattr(info, role)
        if not programs:
            out.append(Finding(False, what, f"answers, but offers no {kind}",
                               f"point {section}.uri at a Wyoming {kind} server"))
            continue
        program = programs[0]
        streaming = ", streaming" if getattr(program, "supports_synthesize_streaming", False) else ""
        out.append(Finding(True, what, f"answers: {program.name} {program.version or ''}".rstrip() + streaming))
    return out
