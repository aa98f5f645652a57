"""Turn ids: every turn (spoken, asked, said, a timer's announcement) gets the next one, process-wide."""

from __future__ import annotations

import itertools

_turn_ids = itertools.count(1)


def next_turn_id() -> int:
    return next(_turn_ids)
