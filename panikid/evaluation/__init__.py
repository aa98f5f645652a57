"""``panikid eval``: a generated evaluation corpus and a runner that measures the real daemon on it.

One module per concern: ``commands`` (what is said, kept as data), ``sentences``
(speech without the wake word), ``voices`` (piper and espeak-ng), ``noise`` (pink
noise, babble, mixing at an SNR), ``plan`` (which items a slice holds), ``corpus``
(rendering and caching), ``streams`` (items concatenated into long input files),
``runner`` (``panikid run`` on each stream), ``score`` (normaliser, WER, events to
items) and ``report`` (rates, tables, JSON).
"""

GENERATOR_VERSION = "1"
"""Bump when a change to the generator changes the audio: the cache key includes it."""
