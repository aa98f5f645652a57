"""The control API: what a surface (MQTT, the WebSocket, systemd, a signal) may do with the assistant and read.

The daemon implements it (``panikid.app.daemon.Daemon``); surfaces and the command handler are typed
against this protocol only, never against the daemon or a processor. Whatever changes the voice loop
becomes a frame: ``mute`` a ``MuteFrame``, ``listen`` a ``ListenFrame``, ``stop_turn`` an
``InterruptionFrame``, ``say`` / ``ask`` the text's frame, and the settings (volume, wake word sensitivity,
LLM backend, a reload) an ``UpdateSettingsFrame`` whose keys each processor applies itself.

Every surface hands its raw commands to the one command handler, ``commands``, so a command means the
same thing whatever surface it came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..events import EventBus
from .settings import RuntimeSettings

if TYPE_CHECKING:
    from ..transports.remote import RemoteFloor
    from .commands import CommandHandler


class ControlApi(Protocol):
    # ------------------------------------------------------------ read
    @property
    def bus(self) -> EventBus:
        """Every event; surfaces subscribe to it, and publish their own errors on it."""

    @property
    def commands(self) -> CommandHandler:
        """The one command handler: validates a surface's raw command and runs it against this API."""

    @property
    def running(self) -> bool:
        """The voice loop runs: commands that need it can be carried out (settings apply before, too)."""

    def current_state(self) -> str:
        """idle, listening, processing, responding, muted or error."""

    def settings(self) -> RuntimeSettings:
        """The runtime settings in effect (see panikid.control.settings)."""

    def last_audio(self) -> float | None:
        """Monotonic time of the last audio frame heard, None before the first (the watchdog's sign of life)."""

    def remote_floor(self) -> RemoteFloor | None:
        """Where remote audio sessions (a browser, a program) take the floor; None when they are off."""

    # ------------------------------------------------------------ act
    def mute(self, muted: bool) -> None: ...

    def listen(self) -> None:
        """Start a turn as if the wake word had been heard."""

    def stop_turn(self) -> None:
        """Cut the current turn and its playback."""

    def say(self, text: str) -> int:
        """Speak ``text`` (no LLM); returns the turn id."""

    def ask(self, text: str) -> int:
        """Answer ``text`` aloud as if it had been spoken; returns the turn id."""

    def set_volume(self, volume: float) -> None:
        """Playback volume, 0 to 1, for everything played from then on."""

    def set_wake_sensitivity(self, level: str) -> None:
        """low, medium or high, around the configured wake threshold."""

    def wake_words(self) -> list[str]:
        """The wake words this device offers (the configured set first)."""
        ...

    def set_wake_word(self, model: str) -> None:
        """One of :meth:`wake_words`; loaded in the background, a ``wake_word`` event when it listens."""

    def set_end_of_turn(self, level: str) -> None:
        """relaxed, default or aggressive: how long a silence ends a turn."""

    def set_llm_backend(self, backend: str) -> None:
        """auto, local or cloud: which brain answers from the next turn on."""

    def reload(self) -> bool:
        """Re-read the configuration file and apply what can change live; False if it was refused."""


class Surface(Protocol):
    """Something that exposes the assistant (MQTT, the WebSocket, systemd notify)."""

    async def start(self, control: ControlApi) -> None: ...

    async def stop(self) -> None: ...
