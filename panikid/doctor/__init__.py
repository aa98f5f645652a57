"""``panikid check``: findings about the configuration, the models, the audio devices and the service install."""
