"""``episode-assistant serve``: index the bundled episodes if the store is empty, then run uvicorn."""

from __future__ import annotations

import ipaddress
import sys

import uvicorn

from assistant.chain import EpisodeAssistant
from assistant.errors import UserError
from vectorstore.ingest import ingest
from vectorstore.store import EpisodeStore, StoreError

from .app import create_app


def ensure_indexed(store: EpisodeStore, episodes_dir: str) -> None:
    """A first `make chat` should answer questions without a separate ingest step."""
    if store.count():
        return
    print(f"The store is empty: indexing {episodes_dir} …", file=sys.stderr)
    for r in ingest([episodes_dir], store, progress=sys.stderr.isatty()):
        if r.status == "failed":
            print(f"error: {r.error}", file=sys.stderr)
    if not store.count():
        print("warning: nothing is indexed; every question will be answered 'not covered'", file=sys.stderr)


def startup_summary(settings, assistant: EpisodeAssistant) -> list[str]:
    """What a person running ``serve`` needs to know: which answerer and model answer, which store
    holds how much. ``auto`` is resolved here; the local model's server still starts lazily."""
    answerer = assistant.answerer()
    if answerer.name != "llm":
        model = "none (answers quote the episodes' own words)"
    elif settings.llm_base_url:
        model = f"{settings.llm_model or 'the default model'} at {settings.llm_base_url}"
    else:
        from assistant.local_model import model_file

        model = f"bundled local model {model_file(settings.local_model)}"
    where = f"Chroma server {settings.chroma_url}" if settings.chroma_url else f"embedded Chroma in {settings.db}"
    episodes, chunks = len(assistant.store.episodes()), assistant.store.count()
    return [
        f"answerer: {answerer.name}" + (" (setting: auto)" if settings.answerer == "auto" else ""),
        f"model:    {model}",
        f"store:    {where}, collection {settings.collection!r}",
        f"indexed:  {episodes} episode{'s' if episodes != 1 else ''}, {chunks:,} chunks",
    ]


def exposure_warning(settings, host: str, port: int) -> str | None:
    """The trusted-user header is only as good as the proxy that sets it: on a port others can
    reach directly, anyone can send it and be whoever they name.

    >>> from types import SimpleNamespace
    >>> exposure_warning(SimpleNamespace(trusted_user_header="X-User"), "127.0.0.1", 7860) is None
    True
    """
    if not settings.trusted_user_header:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host == "localhost":
            return None
    return (
        f"warning: listening on {host}:{port} with trusted_user_header={settings.trusted_user_header!r}: anyone "
        f"who can reach this port directly can claim any user by sending that header; listen on 127.0.0.1 "
        f"behind the authenticating proxy, or let only the proxy reach the port"
    )


def serve(settings, host: str = "127.0.0.1", port: int = 7860, root_path: str = "") -> int:
    try:
        store = EpisodeStore(settings)
        ensure_indexed(store, settings.episodes_dir)
    except StoreError as e:
        raise UserError(str(e)) from None
    assistant = EpisodeAssistant(settings, store=store)
    assistant.warm_up()
    app = create_app(settings, assistant, root_path=root_path)
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    print(f"Episode assistant: http://{shown}:{port}{root_path.rstrip('/')}/  (API docs: …/docs)", file=sys.stderr)
    for line in startup_summary(settings, assistant):
        print(f"  {line}", file=sys.stderr)
    if warning := exposure_warning(settings, host, port):
        print(warning, file=sys.stderr)
    # proxy_headers: behind a reverse proxy on this host, X-Forwarded-Proto makes the scheme https
    # (which the cross-site cookie for iframes needs). The prefix is handled by the app (RootPath),
    # not by uvicorn's root_path, so requests work whether or not the proxy strips it.
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")
    return 0
