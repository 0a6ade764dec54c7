"""The one typed configuration object, built once per process and passed down.

It lives in ``vectorstore`` because that is the lowest layer: every other package may import it,
and nothing here imports anything above.

Precedence (highest first): explicit overrides (CLI flags) > environment variables
``EPISODE_ASSISTANT_<FIELD>`` > the YAML file > defaults.  The YAML file is the one named by
``--config`` / ``EPISODE_ASSISTANT_CONFIG``, else ``episode-assistant.yaml`` in the working
directory when it exists.

    >>> from vectorstore.config import load_settings
    >>> s = load_settings(db="/tmp/store")
    >>> s.db
    '/tmp/store'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "EPISODE_ASSISTANT_"
DEFAULT_CONFIG_FILE = "episode-assistant.yaml"


class Settings(BaseSettings):
    """Every option of episode-assistant. Field names map to env vars ``EPISODE_ASSISTANT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # --- store -----------------------------------------------------------------------------
    db: str = Field(".episode-assistant/db", description="Chroma PersistentClient folder")
    chroma_url: str | None = Field(None, description="Chroma server URL; replaces `db` when set")
    collection: str = Field("episodes", description="Chroma collection name (>= 3 chars)")
    episodes_dir: str = Field("data/episodes", description="what `ingest` reads by default")
    max_file_bytes: int = Field(5_000_000, description="episode files larger than this are rejected")
    store_timeout: float = Field(10.0, description="seconds before a Chroma server call gives up (server mode)")
    embed_batch_size: int = 32
    # How many graph neighbours Chroma's HNSW index explores per query (its ef_search; Chroma's own
    # default is 100). Below about 1,000 chunks Chroma rebuilds the index each time a process opens
    # the store, differently each time, and a search of 100 then misses different near-ties: one
    # question refused in one process and answered in the next. At 500 a store of one to a few
    # episodes is searched exhaustively, so every process finds the same chunks.
    search_breadth: int = Field(500, ge=10, description="Chroma HNSW ef_search: higher is slower but nearer exact")

    # --- retrieval -------------------------------------------------------------------------
    top_k: int = 8
    dense_weight: float = 1.0
    # Tuned on eval/questions.yaml: dense 1.0 / BM25 0.5 / k 10 sits on a plateau (BM25 0.3-0.7,
    # k 10-30 all within 0.01 nDCG@10); equal weights and the textbook k=60 score ~0.03 lower.
    bm25_weight: float = 0.5
    rrf_k: int = 10
    # A follow-up is searched twice, fused: its standalone question and the follow-up as typed, the
    # second at this share of both weights (tune follow-ups nDCG@10 0.605 -> 0.691; 0.4-0.5 is a
    # plateau, 0.75-1.0 lose it; see assistant/followup.py). 0 searches the standalone question only.
    followup_weight: float = 0.5
    # Refusal threshold on the best dense cosine similarity; see assistant/refusal.py for how it
    # was calibrated.
    refusal_threshold: float = 0.335
    # The second refusal signal ("not stated": the question asks for a name, figure or thing the
    # sources never give); refusal_sources is how many top sources a figure must be found in.
    refusal_not_stated: bool = True
    refusal_sources: int = 5
    refusal_suggestions: int = Field(3, description="questions offered with a refusal")

    # --- answering -------------------------------------------------------------------------
    answerer: str = Field("auto", description="auto | extractive | llm")
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 60.0
    local_model: str | None = Field(None, description="path of the bundled GGUF model")

    # --- serving ---------------------------------------------------------------------------
    api_token: str | None = None
    trusted_user_header: str | None = None
    allowed_origins: str | None = Field(None, description="comma-separated; unset = same origin")
    frame_ancestors: str | None = Field(None, description="CSP frame-ancestors; unset = 'self'")
    max_question_chars: int = 2000
    max_concurrent_answers: int = 4
    answer_wait: float = Field(10.0, description="seconds a question waits for a free answer slot before 503")
    health_timeout: float = Field(2.0, description="/healthz answers 503 when the store takes longer")
    max_body_bytes: int = Field(1_000_000, description="larger request bodies get 413 before they are parsed")
    session_max_age: int = Field(43_200, description="seconds the iframe's session cookie stays valid")

    @property
    def store_label(self) -> str:
        return self.chroma_url or str(Path(self.db).resolve())


def default(name: str) -> Any:
    """A setting's default, for code that runs without a Settings object (a doctest, a helper
    called on its own): defaults live only in ``Settings``."""
    return Settings.model_fields[name].default


def config_file(path: str | os.PathLike | None = None) -> Path | None:
    """The YAML config file to read, or None: the explicit path, the env var, or the default."""
    chosen = path or os.environ.get(ENV_PREFIX + "CONFIG")
    if chosen:
        p = Path(chosen)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        return p
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(config: str | os.PathLike | None = None, **overrides: Any) -> Settings:
    """Build the Settings; ``overrides`` whose value is None are ignored (unset CLI flags)."""
    yaml_path = config_file(config)

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(
            cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if yaml_path is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
            return tuple(sources)

    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings.model_validate(_Settings(**values).model_dump())
