"""Bundled local LLM server: the local model file (``assistant.local_model``) served by xllamacpp.

xllamacpp's embedded llama.cpp server runs in a child process with an OpenAI-compatible API on
127.0.0.1, so the ``llm`` answerer drives it with the same code as any remote server.

Usage::

    from langchain_openai import ChatOpenAI
    from assistant.local_llm import get_local_server

    server = get_local_server()  # assembles the model on first use, then starts the server
    llm = ChatOpenAI(base_url=server.base_url, api_key="local", model=server.model_name)
    print(llm.invoke("Say hi").content)
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .local_model import INSTALL_HINT, LocalModelError, ensure_model, model_file

__all__ = ["LocalLLMServer", "LocalModelError", "get_local_server"]

MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"


# Runs in the child process. xllamacpp's Server starts llama.cpp's HTTP server in its
# constructor (blocking until the model is loaded) and stops it when the object is freed;
# it has no stop() method. A child process gives stop() a hard guarantee, lets start()
# time out, and keeps a native crash away from the app. port=0 lets the server bind a
# free port itself (no race between picking a port and binding it); it reports the
# address on stdout. It exits when its stdin closes: on stop(), and also when the parent
# dies in any way, since the OS closes the parent's end of the pipe.
_CHILD = r"""
import json, sys
import xllamacpp as xlc
cfg = json.loads(sys.argv[1])
p = xlc.CommonParams()
p.model.path = cfg["model"]
p.hostnames = ["127.0.0.1"]
p.port = 0
p.n_ctx = cfg["n_ctx"]
p.cpuparams.n_threads = cfg["threads"]
p.cpuparams_batch.n_threads = cfg["threads"]
p.model_alias = {cfg["alias"]}
p.ui = False
server = xlc.Server(p)
print(json.dumps({"address": server.listening_address}), flush=True)
sys.stdin.buffer.read()
del server
"""


class LocalLLMServer:
    """The local model behind an OpenAI-compatible server on 127.0.0.1 (a child process).

    Usage::

        with LocalLLMServer() as server:
            llm = ChatOpenAI(base_url=server.base_url, api_key="local", model=server.model_name)
            llm.invoke("Hello")

    ``start()`` assembles the model if needed, then waits up to ``start_timeout`` seconds for
    the server to answer ``/health``. ``stop()`` is idempotent and also runs at interpreter exit.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_threads: int = 2,
        n_ctx: int = 4096,
        start_timeout: float = 120.0,
        progress: bool = True,
    ) -> None:
        self.model_path = model_path
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.start_timeout = start_timeout
        self.progress = progress
        self.address: str | None = None  # e.g. http://127.0.0.1:41234
        self.model_name: str = MODEL_ALIAS
        self.log_path: Path | None = None  # llama.cpp's log, quoted in errors; kept only after a failure
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """OpenAI base URL, ending in ``/v1``."""
        if self.address is None:
            raise LocalModelError("The local LLM server is not running; call start() first.")
        return self.address + "/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalLLMServer:
        if self.running:
            return self
        if importlib.util.find_spec("xllamacpp") is None:
            raise LocalModelError(
                f"xllamacpp (the local LLM runtime) is not installed. Install it with: {INSTALL_HINT}"
            )
        model = ensure_model(self.model_path, progress=self.progress)
        cfg = {"model": str(model), "n_ctx": self.n_ctx, "threads": self.n_threads, "alias": MODEL_ALIAS}
        fd, log_name = tempfile.mkstemp(prefix="episode-assistant-llm-", suffix=".log")
        self.log_path = Path(log_name)
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(cfg)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C goes to us only; we then stop it cleanly
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(time.monotonic() + self.start_timeout)
        except BaseException:
            self.stop(keep_log=True)
            raise
        return self

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while self.address is None:  # skip any stray stdout lines before ours
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    raise self._failure(f"did not load the model within {self.start_timeout:g} s")
                line = self._proc.stdout.readline()
                if not line:
                    raise self._failure(f"exited with code {self._proc.wait()} while loading the model")
                if line.startswith(b'{"address"'):
                    self.address = json.loads(line)["address"]
        while True:  # the server is up once the constructor returned; this confirms it answers
            try:
                with urllib.request.urlopen(self.address + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if not self.running or time.monotonic() > deadline:
                raise self._failure(f"did not answer {self.address}/health within {self.start_timeout:g} s")
            time.sleep(0.2)
        with urllib.request.urlopen(self.base_url + "/models", timeout=5) as r:
            self.model_name = json.load(r)["data"][0]["id"]

    def _failure(self, what: str) -> LocalModelError:
        log = self.log_path.read_text(errors="replace").strip().splitlines()[-15:] if self.log_path else []
        return LocalModelError(f"The local LLM server {what}. Last log lines ({self.log_path}):\n" + "\n".join(log))

    def stop(self, keep_log: bool = False) -> None:
        """Stop the server (idempotent)."""
        proc, self._proc = self._proc, None
        self.address = None
        atexit.unregister(self.stop)
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]  # the child's read() returns and it frees the model
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if self.log_path and not keep_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_servers: dict[Path, LocalLLMServer] = {}
_servers_lock = threading.Lock()


def get_local_server(local_model: str | os.PathLike | None = None) -> LocalLLMServer:
    """The process-wide server of one model file (the ``local_model`` setting, else the default),
    started on first call (thread-safe) and restarted if it died."""
    path = model_file(local_model)
    with _servers_lock:
        server = _servers.get(path)
        if server is None or not server.running:
            if server is not None:
                server.stop()
            server = LocalLLMServer(path if local_model else None).start()
            _servers[path] = server
        return server
