"""The frame core: frames, the processor base, the pipeline and its runner, and the test helper.

Nothing here imports a model, a transport or a surface; everything else builds on it.
"""
