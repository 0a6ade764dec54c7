"""The seams between the packages: the layer stack, one embedding model per process, defaults in
one place, the config precedence, LangChain's standard retriever tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant.retriever import HybridRetriever
from vectorstore.config import Settings, load_settings

from conftest import ROOT

# Each package may import only the packages below it: vectorstore -> assistant -> {ui, eval} -> cli.
LAYERS = {"vectorstore": 0, "assistant": 1, "ui": 2, "eval": 2, "cli": 3}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages a module imports (absolute imports, anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_packages_import_only_downward(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        for other in imported_packages(path):
            if other == package:
                continue
            assert LAYERS[other] < LAYERS[package], f"{path.relative_to(ROOT)} imports {other} (layer {LAYERS[other]})"


def test_one_embedding_model_per_process(indexed_settings, tmp_path):
    """The store, the citation guard and the eval's naive baseline share one SentenceTransformer."""
    script = f"""
import gc, sys
from sentence_transformers import SentenceTransformer
from vectorstore.config import load_settings
from vectorstore.store import EpisodeStore
from assistant.answerers.guard import support_matrix
from eval.naive import NaiveRetriever
store = EpisodeStore(load_settings(db={indexed_settings.db!r}))
store.embeddings.embed_query("sample efficiency")
support_matrix(["RL works."], ["RL finally works in language models."])
NaiveRetriever({str(ROOT / "data" / "episodes" / "000_e8dde77376fc3016.txt")!r}).search("sample efficiency")
store.embeddings.embed_query("again")
gc.collect()
print(sum(isinstance(o, SentenceTransformer) for o in gc.get_objects()))
"""
    env = {"EPISODE_ASSISTANT_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_retriever_defaults_are_the_settings_defaults():
    r = HybridRetriever(store=None)
    s = Settings.model_construct()  # the declared defaults, no env or file
    assert (r.k, r.dense_weight, r.bm25_weight, r.rrf_k) == (s.top_k, s.dense_weight, s.bm25_weight, s.rrf_k)


def test_config_precedence_cli_over_env_over_yaml_over_defaults(tmp_path, monkeypatch):
    config = tmp_path / "ea.yaml"
    config.write_text("top_k: 3\nrrf_k: 30\nbm25_weight: 0.7\n")
    monkeypatch.setenv("EPISODE_ASSISTANT_RRF_K", "20")
    monkeypatch.setenv("EPISODE_ASSISTANT_BM25_WEIGHT", "0.9")
    s = load_settings(config, bm25_weight=0.2)
    assert s.bm25_weight == 0.2  # flag beats env and file
    assert s.rrf_k == 20  # env beats file
    assert s.top_k == 3  # file beats default
    assert s.dense_weight == Settings.model_fields["dense_weight"].default  # default when nobody sets it
    assert load_settings(config, bm25_weight=None).bm25_weight == 0.9  # an unset flag does not count
    monkeypatch.chdir(tmp_path)
    (tmp_path / "episode-assistant.yaml").write_text("top_k: 5\n")
    assert load_settings().top_k == 5  # the default file in the working directory


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard retriever tests (langchain-tests), on the bundled episode."""

    @pytest.fixture(autouse=True)
    def _store(self, indexed_store):
        type(self).store = indexed_store

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"store": self.store}

    @property
    def retriever_query_example(self) -> str:
        return "What has changed in the past year with RL and language models?"
