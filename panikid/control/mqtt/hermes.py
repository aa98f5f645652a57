"""Hermes (Rhasspy / Snips) compatibility topics, behind ``mqtt.hermes = true`` (pure mapping, no I/O).

Out: ``hermes/hotword/<model>/detected`` on a wake word, ``hermes/asr/textCaptured``
on a transcript, ``hermes/tts/sayFinished`` when a ``hermes/tts/say`` was spoken.
In: ``hermes/tts/say`` (speak ``text``), ``hermes/hotword/toggleOff`` / ``toggleOn``
(mute / unmute). Messages for another ``siteId`` are left alone; a missing siteId
or ``default`` counts as this device, as Rhasspy's single-site set-ups send it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...events import Event, dumps
from ...events.schema import Transcript, Wake
from ..schema import CommandError, load_json

SAY = "hermes/tts/say"
TOGGLE_ON = "hermes/hotword/toggleOn"
TOGGLE_OFF = "hermes/hotword/toggleOff"
SUBSCRIPTIONS = [SAY, TOGGLE_ON, TOGGLE_OFF]
SAY_FINISHED = "hermes/tts/sayFinished"
MAX_PAYLOAD = 4096


@dataclass(frozen=True)
class HermesRequest:
    kind: str  # "say", "mute" or "unmute"
    text: str = ""
    id: str | None = None
    session_id: str | None = None


def _for_us(site_id: Any, device_id: str) -> bool:
    return site_id in (None, "", "default", device_id)


def parse(topic: str, payload: bytes, device_id: str) -> HermesRequest | None:
    """The request on ``topic``; None when it is for another site. Raises CommandError when malformed."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"{topic}: payload of {len(payload)} bytes, at most {MAX_PAYLOAD} allowed")
    try:
        raw = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{topic}: the payload is not valid UTF-8 text (byte {exc.start})") from None
    body = load_json(raw, f"{topic}: the payload") if raw.strip() else {}
    if not isinstance(body, dict):
        raise CommandError(f"{topic}: expected a JSON object")
    if not _for_us(body.get("siteId"), device_id):
        return None
    if topic == TOGGLE_OFF:
        return HermesRequest("mute")
    if topic == TOGGLE_ON:
        return HermesRequest("unmute")
    if topic != SAY:
        raise CommandError(f"{topic}: not a Hermes topic panikid answers")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CommandError(f"{topic}: 'text' must be a non-empty string")
    ident, session = body.get("id"), body.get("sessionId")
    return HermesRequest("say", text.strip(), str(ident) if ident is not None else None,
                         str(session) if session is not None else None)


def outgoing(event: Event, device_id: str) -> list[tuple[str, str]]:
    """(topic, JSON payload) to publish for one event."""
    body = event.body
    if isinstance(body, Wake):
        model = str(body.model or "wakeword")
        return [(f"hermes/hotword/{model}/detected", json.dumps({
            "siteId": device_id, "modelId": model, "modelVersion": "", "modelType": "personal",
            "currentSensitivity": body.score, "sessionId": None}))]
    if isinstance(body, Transcript) and body.text and body.source != "command":
        seconds = body.audio_seconds if body.audio_seconds is not None else 0.0
        return [("hermes/asr/textCaptured", dumps({
            "text": body.text, "likelihood": 1.0, "seconds": seconds,
            "siteId": device_id, "sessionId": str(body.turn), "wakewordId": None}))]
    return []


def say_finished(request: HermesRequest, device_id: str) -> tuple[str, str]:
    return SAY_FINISHED, json.dumps({"id": request.id, "siteId": device_id, "sessionId": request.session_id})
