"""The speech stages, one package each, all of one shape: engines (blocking, no asyncio), pure logic, and
the processor that runs them in the pipeline (``processor.py``)."""
