"""panikid as the tests run it: a one-shot command, the daemon as a subprocess, the daemon in-process.

* ``run_cli("transcribe", "x.wav")``: one command in a fresh process, as a user types it;
  its result holds the exit code, the output and the ``--events`` lines.
* ``DaemonProcess("--input", wav, env=...)``: ``panikid run`` in a fresh process, as a
  user or systemd starts it. Its ``--events`` (stdout, or a file) and its stderr are
  read on threads; ``wait_event`` waits for an event, ``stop`` ends it with SIGTERM
  and a deadline and returns the exit status. ``SurfacesDaemon`` is the same with
  every surface on: MQTT (and Hermes) on a test's broker, the web surface on a free port.
* ``DaemonThread(Daemon(...))``: the real ``Daemon`` on its own event loop in a thread,
  for tests that reach into it (its bus, its processors); the same ``wait_event``.

Each runs with a clean environment: no ``PANIKID_*`` setting of the machine that runs
the tests, no systemd notify socket, and no model hub.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import free_port

REPO = Path(__file__).resolve().parent.parent

Match = str | Callable[[dict[str, Any]], bool]
"""An event type, or a predicate over the event (as a dict, the shape ``--events`` writes)."""


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without panikid's or systemd's variables, offline, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PANIKID_", "NOTIFY_", "WATCHDOG_"))}
    full["HF_HUB_OFFLINE"] = "1"
    full.update(env or {})
    return full


def _matches(what: Match, event: dict[str, Any]) -> bool:
    return event["type"] == what if isinstance(what, str) else what(event)


def _describe(what: Match) -> str:
    return f"{what!r} event" if isinstance(what, str) else "matching event"


def _start(events: list[dict[str, Any]], after: int | dict[str, Any]) -> int:
    """Where a search begins: an index, or just past an event returned before (so a test can wait
    for events in the order they must come)."""
    if isinstance(after, int):
        return after
    for same in (lambda e: e is after, lambda e: e == after):  # the in-process runner returns copies
        for i, e in enumerate(events):
            if same(e):
                return i + 1
    raise ValueError(f"after: {after!r} is not one of the daemon's events")


# ----------------------------------------------------------------------------- one-shot commands


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def of_type(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None) -> Result:
    """Run ``panikid ARGS`` in a fresh process (as a user would), to its end."""
    proc = subprocess.run(
        [sys.executable, "-m", "panikid", *args], capture_output=True, text=True, timeout=timeout,
        env=clean_env(env), cwd=cwd or REPO,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# ----------------------------------------------------------------------------- the daemon as a subprocess


class DaemonProcess:
    """``panikid run ARGS --events -`` (or ``--events FILE``) in a fresh process, read in the background."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, events_file: Path | None = None) -> None:
        self.events_file = events_file
        target = str(events_file) if events_file is not None else "-"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "panikid", "run", *args, "--events", target], cwd=REPO, env=clean_env(env),
            stdout=subprocess.DEVNULL if events_file is not None else subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        self._events: list[dict[str, Any]] = []
        self._stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._tail_file if events_file is not None else self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # -- readers (one thread each)
    def _add_event(self, line: str) -> None:
        if line.startswith("{"):
            with self._changed:
                self._events.append(json.loads(line))
                self._changed.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._add_event(line)

    def _tail_file(self) -> None:
        assert self.events_file is not None
        offset = 0
        while True:
            exited = self.proc.poll() is not None  # read once more after the exit: the last lines
            if self.events_file.exists():
                with open(self.events_file, "rb") as f:
                    f.seek(offset)
                    data = f.read()
                complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next round
                offset += len(complete)
                for line in complete.decode("utf-8").splitlines():
                    self._add_event(line)
            if exited:
                return
            time.sleep(0.05)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self._stderr.append(line)
                self._changed.notify_all()

    # -- what a test reads
    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event the daemon wrote so far, in order."""
        with self._changed:
            return list(self._events)

    @property
    def stderr(self) -> str:
        """The log so far."""
        with self._changed:
            return "".join(self._stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_event(self, what: Match, timeout: float = 120.0, after: int | dict[str, Any] = 0) -> dict[str, Any]:
        """The first event of type ``what`` (or for which ``what(event)`` holds) from index ``after`` on,
        or after the event ``after``, once it came; an ``AssertionError`` with what came instead, the
        exit status and the log's tail if it does not within ``timeout`` s or the daemon ends without it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            start = _start(self._events, after)
            while True:
                for e in self._events[start:]:
                    if _matches(what, e):
                        return e
                done = not self._readers[0].is_alive()  # the daemon ended and all its events were read
                left = deadline - time.monotonic()
                if done or left <= 0:
                    types = [e["type"] for e in self._events[start:]][-40:]
                    raise AssertionError(
                        f"no {_describe(what)} within {timeout}s (exit status {self.proc.poll()}); "
                        f"seen: {types}\n{''.join(self._stderr)[-3000:]}")
                self._changed.wait(min(left, 0.2))

    def wait_stderr(self, text: str, timeout: float = 10.0) -> str:
        """The log so far once it contains ``text``, or after ``timeout`` (the log is read on its own
        thread, so a line may trail an event written after it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in "".join(self._stderr) and time.monotonic() < deadline:
                self._changed.wait(0.05)
            return "".join(self._stderr)

    # -- ending it
    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status once the daemon ends by itself (and every event and log line was read)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the daemon did not end within {timeout}s\n{self.stderr[-3000:]}") from None
        for reader in self._readers:
            reader.join(10)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops it; the exit status. Killed, and an ``AssertionError``, if it
        does not end within ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except AssertionError:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"the daemon did not stop within {timeout}s of SIGTERM") from None


class SurfacesDaemon(DaemonProcess):
    """``panikid run --input WAV --events DIR/events.jsonl`` with every surface on, as a user runs it:
    MQTT on the test's Mosquitto (Hermes too), the web surface on a free port."""

    def __init__(self, dir: Path, wav: Path, broker_port: int, device_id: str = "fuzz",
                 env: dict[str, str] | None = None) -> None:
        self.device_id = device_id
        self.base = f"panikid/{device_id}"
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        super().__init__("--input", str(wav), events_file=dir / "events.jsonl", env={
            "PANIKID_GENERAL_DEVICE_ID": device_id, "PANIKID_MQTT_ENABLED": "true",
            "PANIKID_MQTT_HOST": "127.0.0.1", "PANIKID_MQTT_PORT": str(broker_port), "PANIKID_MQTT_HERMES": "true",
            "PANIKID_WEB_PORT": str(self.web_port), **(env or {}),
        })


# ----------------------------------------------------------------------------- the daemon in-process


class DaemonThread:
    """The real Daemon, run in-process on its own event loop in a thread.

    Every event it publishes is kept (the bus keeps only its last 200), so ``after=len(run.events)``
    always means "from now on".
    """

    def __init__(self, daemon: Any) -> None:
        import asyncio

        self.daemon = daemon
        self._published: list[Any] = []
        daemon.bus.listen(self._published.append)
        self.loop = asyncio.new_event_loop()
        self.code: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.code = self.loop.run_until_complete(self.daemon.run())
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.loop.close()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event published so far, in order, as dicts (the shape ``--events`` writes)."""
        return [e.to_dict() for e in list(self._published)]

    def types(self) -> list[str]:
        return [e.type for e in list(self._published)]

    def wait_event(self, what: Match, timeout: float = 120.0, after: int | dict[str, Any] = 0) -> dict[str, Any]:
        """As ``DaemonProcess.wait_event``: the first matching event from index ``after`` (or after
        the event ``after``) on."""
        deadline = time.monotonic() + timeout
        start = _start(self.events, after)
        while time.monotonic() < deadline:
            alive = self.thread.is_alive()  # before looking: an event published as it ends is seen
            for e in self.events[start:]:
                if _matches(what, e):
                    return e
            if not alive:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {_describe(what)} within {timeout}s; seen: {self.types()[start:]} "
                             f"(error: {self.error!r})")

    def call(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ask the daemon to stop, as SIGTERM does; its exit status. An ``AssertionError`` if it
        does not end within ``timeout`` seconds."""
        if self.thread.is_alive():
            self.call(self.daemon.request_stop)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not stop"
        return self.code
