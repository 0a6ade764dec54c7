"""Shared fixtures: the bundled episode, settings pointing at temporary stores, and one store
with the bundled episode ingested (embedding takes seconds, so it is built once per session)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
EPISODE = ROOT / "data" / "episodes" / "000_e8dde77376fc3016.txt"
EPISODE_ID = "e8dde77376fc3016"


def child_env(**extra: str) -> dict:
    """Environment for a CLI or server child process: offline, quiet, no developer overrides,
    the extractive answerer (tests that want the LLM say so), the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPISODE_ASSISTANT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        TOKENIZERS_PARALLELISM="false",
        ANONYMIZED_TELEMETRY="False",
        EPISODE_ASSISTANT_ANSWERER="extractive",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.update(extra)
    return env


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL: a child process started by a test (a server, the CLI)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """Tests never pick up a developer's config or env overrides."""
    for key in list(os.environ):
        if key.startswith("EPISODE_ASSISTANT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path):
    from vectorstore.config import load_settings

    return load_settings(db=str(tmp_path / "db"))


@pytest.fixture(scope="session")
def indexed_settings(tmp_path_factory):
    """Settings of a store holding the bundled episode (read-only for tests: copy it to write)."""
    from vectorstore.config import load_settings
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    db = tmp_path_factory.mktemp("indexed") / "db"
    s = load_settings(db=str(db))
    results = ingest([EPISODE], EpisodeStore(s), progress=False)
    assert [r.status for r in results] == ["added"]
    return s


@pytest.fixture(scope="session")
def indexed_store(indexed_settings):
    from vectorstore.store import EpisodeStore

    return EpisodeStore(indexed_settings)


@pytest.fixture
def writable_store_settings(indexed_settings, tmp_path):
    """A private copy of the indexed store that a test may change."""
    from vectorstore.config import load_settings

    db = tmp_path / "db"
    shutil.copytree(indexed_settings.db, db)
    return load_settings(db=str(db))


@pytest.fixture
def timed(request):
    """Prints step times of slow tests (``note("what")``) even under output capture."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    start = time.monotonic()

    def note(what: str) -> None:
        line = f"[timing] {request.node.name}: {what}: {time.monotonic() - start:.1f} s"
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    yield note
    note("total")
