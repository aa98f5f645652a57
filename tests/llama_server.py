"""llama.cpp's own OpenAI-compatible server on loopback, serving the bundled SmolLM2 (a stand-in cloud)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers import free_port, kill_process, stop_process


class LlamaServer:
    def __init__(self, log_path: Path, port: int | None = None) -> None:
        from panikid import models
        from panikid.config import ModelsConfig

        self.model = models.resolve("llm", "smollm2-135m", ModelsConfig())
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, deadline: float = 120.0) -> LlamaServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "1024", "--n_threads", "1"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        log.close()
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {deadline} s")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        kill_process(self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
