"""LLM providers behind one interface: ``name``, ``stream(messages, cancel) -> Iterator[str]``.

Every provider streams through its vendor's official SDK and raises only
``panikid.brains.errors.ProviderError`` subclasses.
"""
