"""The audio front end as pipeline stages: the microphone's audio cleaned before anything listens to it
(``MicrophoneCleaner``: high-pass, noise suppression, gain control), the replies levelled before they are
played (``ReplyLeveler``). The signal processing itself is in :mod:`panikid.audio.frontend`."""
