"""The assistant behind one concurrency limit shared by every door (JSON API, chat, other endpoints).

Answering is blocking work (embedding, Chroma, maybe an LLM). ``max_concurrent_answers`` slots
bound how many answers are produced at once whichever door the question came through; a caller
that cannot get a slot within ``answer_wait`` seconds gets ``Busy`` (HTTP 503) instead of queueing
without bound. Slots are handed out first come, first served.

Two ways in, both counting against the same slots:

* async (the JSON API: ``ask_async``, ``stream_async``, ``health_async``): the slot is waited for
  on the event loop, so a waiting request holds no thread; the answer's steps then run on threads
  of this service's own limiter (one per slot), so they never compete with the server's shared
  thread pool. Waiting inside shared worker threads deadlocked at ~45 concurrent streams: the
  waiters took every thread the slot holders needed to finish.
* sync (``ask``, ``stream``: Gradio's own worker threads, the CLI): a blocking wait with the same
  deadline.

``/healthz`` reads the store on one dedicated thread with a deadline (``health_timeout``) and
reuses a result younger than a second, so probes answer under any load and a hung store gives
503, not a hung probe.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio

from assistant.answer import Answer
from assistant.chain import EpisodeAssistant
from assistant.errors import QuestionError
from assistant.query import Query
from vectorstore.config import default
from vectorstore.store import counts_from_manifest

HEALTH_FRESH_SECONDS = 1.0  # a probe within this long of the last store read reuses its counts


class Busy(RuntimeError):
    """Every answer slot stayed taken for ``wait`` seconds (HTTP 503)."""


@dataclass(eq=False)
class _Ticket:
    wake: Callable[[], None]
    granted: bool = False


class SlotPool:
    """``size`` slots for threads (``acquire``) and event-loop tasks (``acquire_async``) alike,
    granted in arrival order: a freed slot goes straight to the longest waiter.

    >>> pool = SlotPool(1)
    >>> pool.acquire(0), pool.acquire(0.01)
    (True, False)
    >>> pool.release(); pool.acquire(0)
    True
    """

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()  # held only for bookkeeping, never while waiting
        self._free = size
        self._waiting: deque[_Ticket] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _take_now(self) -> bool:
        if self._free and not self._waiting:
            self._free -= 1
            return True
        return False

    def _give_up(self, ticket: _Ticket) -> bool:
        """After the wait: True if the slot was granted meanwhile, else the ticket leaves the queue."""
        with self._lock:
            if ticket.granted:
                return True
            self._waiting.remove(ticket)
            return False

    def acquire(self, timeout: float) -> bool:
        with self._lock:
            if self._take_now():
                return True
            event = threading.Event()
            ticket = _Ticket(event.set)
            self._waiting.append(ticket)
        event.wait(max(timeout, 0))
        return self._give_up(ticket)

    async def acquire_async(self, timeout: float) -> bool:
        with self._lock:
            if self._take_now():
                return True
            loop, event = asyncio.get_running_loop(), asyncio.Event()
            ticket = _Ticket(lambda: loop.call_soon_threadsafe(event.set))
            self._waiting.append(ticket)
        try:
            with anyio.move_on_after(max(timeout, 0)):
                await event.wait()
        except BaseException:  # cancelled (client gone): a slot granted meanwhile goes back
            if self._give_up(ticket):
                self.release()
            raise
        return self._give_up(ticket)

    def release(self) -> None:
        with self._lock:
            self._free += 1
            while self._free and self._waiting:
                ticket = self._waiting.popleft()
                ticket.granted = True
                self._free -= 1
                ticket.wake()


def check_text(value: str, what: str) -> None:
    """Text that cannot be encoded (a lone surrogate such as ``\\ud800`` from JSON) is a bad
    request, not a 503 from deep inside the tokenizer or the store.

    >>> check_text("fine", "the question")
    >>> check_text("bad \\ud800", "the question")
    Traceback (most recent call last):
    assistant.errors.QuestionError: the question contains an invalid character (U+D800, a lone surrogate) at position 4
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = f"U+{ord(value[e.start]):04X}, a lone surrogate"
        raise QuestionError(f"{what} contains an invalid character ({bad}) at position {e.start}") from None


class AnswerService:
    def __init__(
        self,
        assistant: EpisodeAssistant,
        limit: int,
        wait: float | None = None,
        health_timeout: float | None = None,
    ):
        self.assistant = assistant
        self.limit = max(1, int(limit))
        self.wait = default("answer_wait") if wait is None else wait
        self.health_timeout = default("health_timeout") if health_timeout is None else health_timeout
        self.slots = SlotPool(self.limit)
        # one thread per slot holder: API answers never wait for, nor exhaust, the shared pool
        self.threads = anyio.CapacityLimiter(self.limit)
        self._health_thread = ThreadPoolExecutor(1, thread_name_prefix="healthz")
        self._health_lock = threading.Lock()
        self._health_read: Future | None = None
        self._health_at = 0.0

    @classmethod
    def from_settings(cls, assistant: EpisodeAssistant, settings) -> AnswerService:
        return cls(assistant, settings.max_concurrent_answers, settings.answer_wait, settings.health_timeout)

    @property
    def store(self):
        return self.assistant.store

    def _busy(self) -> Busy:
        return Busy(f"all {self.limit} answer slots are busy; try again in a moment")

    # --- checks ------------------------------------------------------------------------------
    def check(self, query: Query | str) -> str:
        """Raises ``QuestionError`` (with its HTTP status) for an empty, over-long or unencodable
        question, or unencodable history text; returns the question, stripped."""
        query = Query.of(query)
        check_text(query.question, "the question")
        for i, turn in enumerate(query.history):
            for key in ("user", "assistant"):
                check_text(str(turn.get(key, "")), f"history turn {i + 1} ({key})")
        check_text(query.episode or "", "the episode id")
        return self.assistant.check_question(query.question)

    # --- sync: Gradio's worker threads, scripts ----------------------------------------------
    @contextmanager
    def slot(self):
        if not self.slots.acquire(self.wait):
            raise self._busy()
        try:
            yield
        finally:
            self.slots.release()

    def ask(self, query: Query) -> Answer:
        self.check(query)
        with self.slot():
            return self.assistant.ask(query)

    def stream(self, query: Query) -> Iterator[dict]:
        """The chain's events; the slot is held until the generator finishes or is closed."""
        self.check(query)
        with self.slot():
            yield from self.assistant.stream(query)

    # --- async: the JSON API -----------------------------------------------------------------
    @asynccontextmanager
    async def slot_async(self):
        if not await self.slots.acquire_async(self.wait):
            raise self._busy()
        try:
            yield
        finally:
            self.slots.release()

    async def ask_async(self, query: Query) -> Answer:
        self.check(query)
        async with self.slot_async():
            return await anyio.to_thread.run_sync(self.assistant.ask, query, limiter=self.threads)

    async def stream_async(self, query: Query) -> AsyncIterator[dict]:
        """The chain's events. ``Busy`` and ``QuestionError`` come from the first ``__anext__``,
        before any event; close the iterator (``aclose``) to give the slot back early."""
        self.check(query)
        async with self.slot_async():
            events = self.assistant.stream(query)
            try:
                while (event := await anyio.to_thread.run_sync(next, events, None, limiter=self.threads)) is not None:
                    yield event
            finally:
                # shielded: on a client disconnect the generator must still be closed (its
                # cleanup may block) before the slot is given back
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(events.close, limiter=self.threads)

    # --- health ------------------------------------------------------------------------------
    def health(self) -> dict:
        """Completely indexed episodes and their chunks (from the overview manifests: chunks of a
        half-written episode do not count). Raises whatever the store raises."""
        metas = self.store.episodes()
        return {"episodes": len(metas), "chunks": sum(sum(counts_from_manifest(m).values()) for m in metas)}

    async def health_async(self) -> dict:
        """``health()`` read on the one health thread, at most once a second; raises TimeoutError
        when the store has not answered within ``health_timeout`` (a hung store holds that one
        thread, never a probe)."""
        with self._health_lock:
            read = self._health_read
            stale = read is None or (read.done() and time.monotonic() - self._health_at > HEALTH_FRESH_SECONDS)
            if stale:
                self._health_at = time.monotonic()
                read = self._health_read = self._health_thread.submit(self.health)
        with anyio.fail_after(self.health_timeout):
            while not read.done():
                await anyio.sleep(0.01)
        if read.exception() is not None:
            with self._health_lock:  # the next probe tries again instead of reusing the failure
                if self._health_read is read:
                    self._health_read = None
        return read.result()
