"""Everyday sentences without the wake word: the negatives, and the talkers of babble noise.

Made from templates with a seeded generator, so the same seed gives the same
sentences. None of them contains the wake word or anything close to "nabu";
some start with "okay", as people's speech does.
"""

from __future__ import annotations

import random
import re

_SUBJECTS = ["I", "We", "My brother", "Our neighbour", "The teacher", "Anna", "The kids", "My friend from work",
             "Grandma", "The man next door", "Everybody", "Tom and Lisa", "The doctor", "Your cousin", "Nobody"]
_ACTIONS = ["bought fresh bread at the market", "walked the dog along the river", "painted the garden fence",
            "fixed the old bicycle", "called the plumber about the leak", "cooked a big pot of soup",
            "forgot the keys at the office", "watched a film about whales", "planted tomatoes by the wall",
            "read the newspaper on the train", "cleaned the windows upstairs", "sold the blue car",
            "booked a table for dinner", "lost an umbrella on the bus", "baked a cake for the party",
            "washed the dishes after lunch", "carried the boxes to the attic", "missed the last train home",
            "visited the museum downtown", "wrote a long letter to the bank"]
_TIMES = ["yesterday", "last week", "this morning", "on Sunday", "after school", "before the storm",
          "in the evening", "two days ago", "at the weekend", "during the holidays", "last night", "in spring"]
_REMARKS = ["and it was lovely", "but nobody noticed", "which took forever", "and then it started raining",
            "because the shop was closed", "so we were late again", "and everyone laughed",
            "while the radio was playing", "and it cost far too much", "before anyone woke up"]
_QUESTIONS = ["Did you remember to buy milk", "Where did you put the scissors", "Are we still meeting on Friday",
              "How was the concert last night", "Could you pass me the salt", "When does the library open",
              "Have you seen my blue jacket", "Is the bakery open on Mondays", "Who left the door open",
              "Should we take the bus or walk", "What time does the train leave tomorrow",
              "Why is the kitchen so cold"]
_SHORT = ["Okay, let's go.", "Okay, I'll be there in five minutes.", "Okay, sounds good to me.",
          "Okay, put it on the table.", "Okay then, see you tomorrow.", "Okay, that makes sense.",
          "Sure, no problem at all.", "Thanks, that's very kind of you.", "Hello, is anyone home?",
          "Right, where was I?", "Hmm, I'm not so sure about that.", "Yes, please, with a little sugar."]
_FORBIDDEN = re.compile(r"\b(nabu|naboo|nah|boo|jarvis|panikid)\b", re.IGNORECASE)


def negative_sentences(count: int, seed: int) -> list[str]:
    """``count`` different sentences without the wake word (deterministic for a seed)."""
    rng = random.Random(seed)
    pool: list[str] = list(_SHORT)
    for q in _QUESTIONS:
        pool.append(q + "?")
    seen = set(pool)
    while len(pool) < count + len(_SHORT) + len(_QUESTIONS):
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_ACTIONS)} {rng.choice(_TIMES)}"
        if rng.random() < 0.5:
            s += f", {rng.choice(_REMARKS)}"
        s += "."
        if s not in seen:
            seen.add(s)
            pool.append(s)
    rng.shuffle(pool)
    out = pool[:count]
    bad = [s for s in out if _FORBIDDEN.search(s)]
    if bad:  # a template edit must never put the wake word into the negatives
        raise ValueError(f"negative sentences contain the wake word: {bad[:3]}")
    return out
