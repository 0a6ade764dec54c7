"""Helpers for the UI/API tests: real servers on 127.0.0.1 (free ports, bounded start/stop), the
headless Debian chromium, and a small episode file whose quote carries an HTML payload."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import uvicorn

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"


def quote_citation(marker: int = 2, **overrides):
    """A speaker-quote citation whose text carries the XSS payload; ``overrides`` replace fields."""
    from assistant.answer import Citation

    fields = dict(
        marker=marker,
        id="e/quotes/17",
        episode_id="e",
        section="quotes",
        index=17,
        text=f"We bake {XSS} daily.",
        line_start=728,
        line_end=736,
        transcript_position=12345,
        topic="Baking",
        file="/srv/episodes/000_e.txt",
        kind="speaker quote",
        location="quote 17 · lines 728–736",
    )
    return Citation(**(fields | overrides))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(app, timeout: float = 30.0):
    """Serve an ASGI app with uvicorn in a thread; yields its base URL (no trailing slash)."""
    port = free_port()
    # a short graceful-shutdown window: Gradio's open SSE streams would otherwise hold it open
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextlib.contextmanager
def static_files(folder: Path):
    """Serve a folder over HTTP (the "portal" of the embedding tests); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@contextlib.contextmanager
def chromium(tmp: Path):
    """Headless Debian chromium through playwright (its own browser download is not available)."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "xdg-config"), XDG_CACHE_HOME=str(tmp / "xdg-cache"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS, env=env, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


def write_xss_episode(folder: Path) -> Path:
    """A valid episode whose title, summary and quote carry an HTML/script payload."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "000_0123456789abcdef.txt"
    path.write_text(
        f"""---
title: 'Kitchen gadgets {XSS}'
date: 2025-01-01
summary: |
  ## Podcast Summary: Kitchen gadgets
  ### 1. Focus Area
  The hosts review sourdough starters and bread ovens. {XSS}
quotes:
- text: 'The best sourdough starter needs rye flour, warm water and patience {XSS} every single day.'
  relevance_score: 9
  topic: Baking
---
<!-- body -->
""",
        encoding="utf-8",
    )
    return path


SECOND_EPISODE = """---
title: 'Bread ovens'
date: 2030-01-01
summary: |
  ## Podcast Summary: Bread ovens
  ### 1. Key Insights
  *   **Steam Injection Matters:** Ovens with steam bake better crusts.
  *   **Stone Decks:** Keep heat.
quotes:
- text: 'Steam is what gives a baguette its crackling crust, nothing else does it as well.'
  relevance_score: 9
  topic: Baking
---
<!-- body -->
"""


def write_second_episode(folder: Path) -> Path:
    """A small valid episode about bread ovens, with bold lead phrases in its summary."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "001_00000000000000aa.txt"
    path.write_text(SECOND_EPISODE, encoding="utf-8")
    return path


def artifacts_dir() -> Path:
    """out/screenshots/ at the repo root (gitignored): screenshots survive the run for a look."""
    d = Path(__file__).resolve().parents[1] / "out" / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)
