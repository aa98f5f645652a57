"""How a reply's pieces leave the thread that produces them: one protocol for every consumer.

A model streams in a worker thread; its consumer (the router's deadline loop, or the assistant on the
event loop) reads ``(PIECE, text)`` items, then ``(END, None)``, or ``(ERROR, exception)`` when the
stream failed. ``pump`` is the producing side; ``put`` decides how an item crosses to the consumer (a
``queue.Queue``, or ``call_soon_threadsafe`` onto an asyncio queue).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

PIECE, ERROR, END = "piece", "error", "end"
Item = tuple[str, object]


def pump(stream: Callable[[], Iterable[str]], cancel: threading.Event, put: Callable[[Item], None]) -> None:
    """Run ``stream()`` here (blocking) and hand over every piece, then the end or the error.

    Stops after the piece during which ``cancel`` was set. Any exception, even one raised by
    ``stream()`` before the first piece, is handed over instead of escaping the thread.
    """
    try:
        for piece in stream():
            put((PIECE, piece))
            if cancel.is_set():
                break
    except BaseException as exc:  # handed to the consumer, raised there
        put((ERROR, exc))
    else:
        put((END, None))
