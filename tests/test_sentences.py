"""Sentence splitting for TTS: early release while streaming, numbers and abbreviations, markdown removal."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panikid.text.sentences import SentenceSplitter, clean_for_speech, split_sentences

WORDS = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return WORDS.findall(text)


def stream(tokens: list[str], min_chars: int = 12) -> list[tuple[int, str]]:
    """Push tokens one by one; return (index of the token that released it, sentence); flush is index -1."""
    splitter = SentenceSplitter(min_chars)
    out = [(i, s) for i, token in enumerate(tokens) for s in splitter.push(token)]
    return out + [(-1, s) for s in splitter.flush()]


def test_sentences_are_released_as_soon_as_they_are_complete() -> None:
    tokens = ["Sure", ",", " the", " kitchen", " light", " is", " on", ".", " Anything", " else",
              " I", " can", " do", "?", " Just", " ask"]
    released = stream(tokens)
    # The first sentence comes out with the token that shows it is over (the space after
    # the full stop), long before the model finishes writing.
    assert released == [
        (8, "Sure, the kitchen light is on."),
        (14, "Anything else I can do?"),
        (-1, "Just ask"),
    ]


def test_a_trailing_full_stop_waits_for_what_follows_it() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("The temperature is 3.") == []  # might be 3.5
    assert splitter.push("5 degrees today. ") == ["The temperature is 3.5 degrees today."]
    assert splitter.push("Wear a coat.") == []
    assert splitter.flush() == ["Wear a coat."]
    assert splitter.flush() == []


@pytest.mark.parametrize(
    "expected",
    [
        ["It costs 3.5 dollars, or 4.25 with tax.", "That is cheap."],
        ["Dr. Smith will see you at noon today.", "Bring your card."],
        ["Take fruit, e.g. apples or pears, with you.", "Or not at all."],
        ["Mr. and Mrs. Jones live at No. 5 on the corner.", "Nice people."],
        ["J. R. R. Tolkien wrote that book long ago.", "It is long."],
        ["She asked the robot:", '"Is it raining?"', "Yes, it said."],
        ["Wait for it…", "here it comes now!", "Really?! Yes."],
    ],
)
def test_numbers_and_abbreviations_do_not_end_a_sentence(expected: list[str]) -> None:
    assert split_sentences(" ".join(expected)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is **very** important, *really* and _truly_. Use `ls` to list files.",
         ["This is very important, really and truly.", "Use ls to list files."]),
        ("## Weather today\nIt will be sunny and warm.", ["Weather today", "It will be sunny and warm."]),
        ("Here are the options:\n- a cup of tea\n- a glass of milk\n1. first choice\n2. second choice",
         ["Here are the options:", "a cup of tea", "a glass of milk", "first choice", "second choice"]),
        ("Read [the manual](https://example.com/manual) before you start. Then begin.",
         ["Read the manual before you start.", "Then begin."]),
        ("Run this command:\n```bash\nsudo reboot now. Really\n```\nThat restarts the device.",
         ["Run this command:", "That restarts the device."]),
        ("Run this command right now:\n```python\nprint('hello. world')",
         ["Run this command right now:"]),  # a code block cut off by the end of the reply
    ],
)
def test_markdown_is_removed(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_clean_for_speech_removes_markdown_and_squeezes_spaces() -> None:
    assert clean_for_speech("  # Title  \n\n**bold**   and\t`code`  ") == "Title bold and code"
    assert clean_for_speech("keep snake_case and 2*3") == "keep snake_case and 23"


def test_flush_returns_the_rest_and_empties_the_buffer() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("This is the first sentence. and then a half") == ["This is the first sentence."]
    assert splitter.flush() == ["and then a half"]
    assert splitter.flush() == []
    assert splitter.push("Fresh start here, all good. ") == ["Fresh start here, all good."]


@pytest.mark.parametrize("text", ["", "   ", "...", "!!! ??? ", "**", "- \n# \n", "```\n```", "…"])
def test_no_empty_or_punctuation_only_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_short_sentences_are_joined_up_to_min_chars() -> None:
    joined = ["Hi. Ok. Yes.", "Let us get going then."]
    assert split_sentences("Hi. Ok. Yes. Let us get going then.") == joined
    assert split_sentences("Hi. Ok. Yes.", min_chars=1) == ["Hi.", "Ok.", "Yes."]


# ----------------------------------------------------------------------------- properties

alpha_word = st.from_regex(r"[A-Za-z]{1,9}", fullmatch=True)
number = st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,2})?", fullmatch=True)
abbreviation = st.sampled_from(["Dr.", "Mr.", "Mrs.", "e.g.", "i.e.", "etc.", "approx.", "St."])
decorated = alpha_word.flatmap(lambda w: st.sampled_from([w, f"**{w}**", f"_{w}_", f"`{w}`", f"*{w}*"]))
any_word = st.one_of(decorated, decorated, number, abbreviation)
terminator = st.sampled_from([".", ".", "!", "?", "?!", "...", "…", ":", ";", "", '."', ".)", ","])
sentence = st.builds(
    lambda first, rest, end: " ".join([first, *rest]) + end,
    decorated,
    st.lists(any_word, max_size=8),
    terminator,
)
line = st.builds(
    lambda prefix, sentences: prefix + " ".join(sentences),
    st.sampled_from(["", "", "", "- ", "* ", "1. ", "12. ", "# ", "### "]),
    st.lists(sentence, min_size=1, max_size=4),
)
code_block = st.lists(any_word, min_size=1, max_size=6).map(lambda ws: "```\n" + " ".join(ws) + ".\n```")
document = st.builds(
    lambda lines, sep: sep.join(lines),
    st.lists(st.one_of(line, line, line, code_block), min_size=1, max_size=6),
    st.sampled_from(["\n", "\n\n", "\n  "]),
)


def cut(text: str, points: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=200, deadline=None)
@given(text=document, points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
       min_chars=st.sampled_from([1, 12, 30]))
def test_no_word_is_lost_or_duplicated_whatever_the_token_boundaries(
    text: str, points: list[int], min_chars: int
) -> None:
    streamed = [s for _, s in stream(cut(text, points), min_chars)]
    assert words(" ".join(streamed)) == words(clean_for_speech(text))
    # How the reply was cut into tokens does not change the sentences.
    assert streamed == split_sentences(text, min_chars)
    for s in streamed:
        assert s == s.strip() and any(ch.isalnum() for ch in s), s
        assert "**" not in s and "```" not in s


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_any_text_gives_non_empty_sentences_made_only_of_its_own_words(text: str) -> None:
    out = split_sentences(text)
    for s in out:
        assert s == s.strip() and any(ch.isalnum() for ch in s), s
    # Nothing is invented or repeated: the letters and digits out are a part of those in.
    alnum_in = Counter(ch for ch in text if ch.isalnum())
    alnum_out = Counter(ch for ch in "".join(out) if ch.isalnum())
    assert alnum_out <= alnum_in


def test_a_long_sentence_is_spoken_in_parts_at_clause_breaks() -> None:
    from panikid.text.sentences import SentenceSplitter, split_long

    text = ("Cats can sleep for up to sixteen hours a day, which is more than most other animals, and they "
            "often do it in the sun, on your keyboard, or in a box that is far too small for them. Yes!")
    splitter = SentenceSplitter(max_chars=80)
    streamed = []
    for word in text.split(" "):
        streamed += splitter.push(word + " ")
    streamed += splitter.flush()
    assert all(len(p) <= 80 for p in streamed), streamed
    assert streamed[0].endswith(",")  # cut after a comma, not mid-clause
    assert " ".join(streamed).split() == text.split()  # nothing lost
    # No comma at all: cut at a space.
    parts = split_long("word " * 40, 50)
    assert all(len(p) <= 50 for p in parts) and " ".join(parts).split() == ["word"] * 40
