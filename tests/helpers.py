"""Small helpers shared by the tests: a free port on loopback, how alike two texts are, ending a server process.

Running panikid itself (a command, the daemon) is in :mod:`daemons`; generated audio
comes from ``panikid.devtools.fixtures`` and the shared fixtures in ``conftest.py``.
"""

from __future__ import annotations

import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def similarity(a: str, b: str) -> float:
    """How alike two texts are (0..1), on letters and digits only: numbers come back
    from speech recognition in other spellings ("12:00" as "1200")."""
    import difflib
    import re

    def norm(x: str) -> str:
        return re.sub(r"[^a-z0-9]", "", x.lower())

    return difflib.SequenceMatcher(None, norm(a), norm(b)).ratio()


def kill_process(proc: subprocess.Popen | None) -> None:
    """SIGKILL a server the test started, as a crash or a pulled plug would, and reap it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def stop_process(proc: subprocess.Popen | None) -> None:
    """SIGTERM a server the test started; SIGKILL when it has not ended 10 s later."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
