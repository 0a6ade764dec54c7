"""Many concurrent ``POST /api/ask/stream`` against a running server while ``/healthz`` is polled.

Used by ``make bench`` (the "64 concurrent streams" row) and by ``tests/test_hardening.py``, which
asserts on the same per-request records the bench summarises.

    >>> result = storm("http://127.0.0.1:7860", ["sample efficiency?"], n=8)   # doctest: +SKIP
    >>> result.summary()["completed"]                                          # doctest: +SKIP
    8
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx


@dataclass
class StreamResult:
    question: str
    status: int | None  # None: no response at all (timeout, connection error)
    seconds: float  # from sending the request to the end of the response body
    events: list[str] = field(default_factory=list)  # SSE event names, in order
    retry_after: str | None = None
    error: str | None = None  # the client-side exception, if any

    @property
    def completed(self) -> bool:
        return self.status == 200 and bool(self.events) and self.events[-1] == "answer"


@dataclass
class HealthSample:
    status: int | None  # None: no answer within the probe's timeout
    seconds: float
    error: str | None = None


@dataclass
class Storm:
    streams: list[StreamResult]
    health: list[HealthSample]
    wall_seconds: float

    def summary(self) -> dict:
        completed = [s for s in self.streams if s.completed]
        busy = [s for s in self.streams if s.status == 503]
        return {
            "streams": len(self.streams),
            "completed": len(completed),
            "busy_503": len(busy),
            "other": len(self.streams) - len(completed) - len(busy),
            "max_latency_s": round(max((s.seconds for s in self.streams), default=0.0), 2),
            "max_503_latency_s": round(max((s.seconds for s in busy), default=0.0), 2),
            "healthz_probes": len(self.health),
            "healthz_failures": sum(h.status != 200 for h in self.health),
            "healthz_max_s": round(max((h.seconds for h in self.health), default=0.0), 2),
            "wall_s": round(self.wall_seconds, 2),
        }


def _stream(client: httpx.Client, url: str, question: str, timeout: float) -> StreamResult:
    t = time.monotonic()
    try:
        with client.stream("POST", f"{url}/api/ask/stream", json={"question": question}, timeout=timeout) as r:
            events = [line[len("event:") :].strip() for line in r.iter_lines() if line.startswith("event:")]
            return StreamResult(question, r.status_code, time.monotonic() - t, events, r.headers.get("retry-after"))
    except httpx.HTTPError as e:
        return StreamResult(question, None, time.monotonic() - t, error=f"{type(e).__name__}: {e}")


def _probe(client: httpx.Client, url: str, timeout: float) -> HealthSample:
    t = time.monotonic()
    try:
        r = client.get(f"{url}/healthz", timeout=timeout)
        return HealthSample(r.status_code, time.monotonic() - t)
    except httpx.HTTPError as e:
        return HealthSample(None, time.monotonic() - t, f"{type(e).__name__}: {e}")


def storm(
    url: str,
    questions: list[str],
    n: int = 64,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    health_timeout: float = 2.0,
    health_every: float = 0.25,
) -> Storm:
    """``n`` streams released together (questions cycled), ``/healthz`` probed every
    ``health_every`` seconds until the last stream ends. Bounded: each request gives up after
    ``timeout`` seconds, each probe after ``health_timeout``."""
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    barrier = threading.Barrier(n + 1, timeout=60)
    done = threading.Event()
    health: list[HealthSample] = []
    with httpx.Client(headers=headers or {}, limits=limits) as client:

        def one(i: int) -> StreamResult:
            barrier.wait()
            return _stream(client, url, questions[i % len(questions)], timeout)

        def poll() -> None:
            with httpx.Client(headers=headers or {}) as probe_client:  # its own connection: not queued
                while not done.is_set():
                    health.append(_probe(probe_client, url, health_timeout))
                    done.wait(health_every)

        poller = threading.Thread(target=poll, daemon=True)
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            barrier.wait()
            t = time.monotonic()
            poller.start()
            streams = [f.result() for f in futures]
            wall = time.monotonic() - t
        done.set()
        poller.join(health_timeout + 5)
    return Storm(streams, health, wall)
