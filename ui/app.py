"""The FastAPI app: JSON API + Gradio chat, behind the portal security settings.

    >>> from vectorstore.config import load_settings
    >>> app = create_app(load_settings(answerer="extractive"))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=7860)

Routes (all under ``root_path`` when one is given):

* ``/``                the chat (Gradio, mounted at the root so an iframe's ``src`` is just the app URL)
* ``/api/ask``, ``/api/ask/stream``, ``/healthz``   the JSON API; ``/docs`` its OpenAPI page
* ``/v1/models``, ``/v1/chat/completions``   the OpenAI-compatible endpoint (ui/openai_compat.py)
* ``/mcp``             the MCP tools over streamable HTTP (ui/mcp_server.py)
* ``/gradio.js``       the ``<gradio-app>`` web-component loader, served from this app (no CDN)
* ``/portal-example``  ui/portal_example.html: a portal page framing the chat (same origin, so it just works)
* ``/docs``, ``/redoc`` the OpenAPI pages, with their JS/CSS served by this app (fastapi-offline; no CDN)
* ``/gradio_api/...``  Gradio's own API (``gradio_client``): endpoints ``/ask`` and ``/answer``

Middleware, outermost first: RootPath (prefix handling) -> SecurityHeaders (CSP frame-ancestors
on every response) -> CORS (the allowed origins) -> AuthMiddleware (token / trusted header) ->
BodyLimit (413 for a body over max_body_bytes). Gradio's upload route answers 403: the chat has
no upload component.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi_offline import FastAPIOffline

from assistant.chain import EpisodeAssistant

from .api import api_router
from .chat import CHAT_JS, CSS, TITLE, build_chat, gr
from .mcp_server import mount_mcp
from .openai_compat import openai_router
from .security import (
    AuthMiddleware,
    BodyLimit,
    PortalAuth,
    RootPath,
    SecurityHeaders,
    add_cors,
    redact_tokens_in_access_log,
)
from .service import AnswerService

# Gradio's web-component loader; it imports the hashed bundle from ./assets/, which the mounted
# Gradio app serves.
GRADIO_JS = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"
PORTAL_EXAMPLE = Path(__file__).parent / "portal_example.html"


def _version() -> str:
    try:
        return metadata.version("episode-assistant")
    except metadata.PackageNotFoundError:
        return "0"


def create_app(settings, assistant: EpisodeAssistant | None = None, *, root_path: str = "") -> FastAPI:
    root_path = root_path.rstrip("/")
    service = AnswerService.from_settings(assistant or EpisodeAssistant(settings), settings)
    app = FastAPIOffline(  # /docs and /redoc with bundled Swagger/ReDoc files: they work offline
        title=TITLE,
        version=_version(),
        description="Answers questions about podcast episodes, citing positions in the episode files. "
        "The chat UI is at `/`; see docs/embedding.md for embedding and auth.",
    )
    app.state.service = service
    app.include_router(api_router(service))
    app.include_router(openai_router(service))
    mount_mcp(app, service, settings)  # before Gradio's catch-all mount at "/"

    @app.get("/gradio.js", include_in_schema=False)
    def gradio_js():
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    @app.get("/portal-example", include_in_schema=False)
    def portal_example():
        return FileResponse(PORTAL_EXAMPLE, media_type="text/html")

    @app.post("/gradio_api/upload", include_in_schema=False)
    def no_uploads():
        # the chat has no upload component; Gradio's route would keep any file in its temp folder
        return JSONResponse({"detail": "uploads are disabled"}, status_code=403)

    # Mounted last: the routes above take precedence over Gradio's catch-all mount at "/".
    gr.mount_gradio_app(
        app,
        build_chat(service, settings.answerer),
        path="/",
        auth_dependency=PortalAuth(settings).gradio_dependency(),
        root_path=root_path or None,
        css=CSS,
        js=CHAT_JS,
        footer_links=["api", "settings"],
        ssr_mode=False,
        max_file_size="1mb",
    )

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, settings=settings, root_path=root_path)
    add_cors(app, settings)
    app.add_middleware(SecurityHeaders, settings=settings)
    if root_path:
        app.add_middleware(RootPath, root_path=root_path)
    redact_tokens_in_access_log()
    return app
