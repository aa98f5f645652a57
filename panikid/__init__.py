"""panikid: an offline-first voice assistant daemon."""

__version__ = "0.1.0"
