"""Portal security from the settings: who may call, which origins may read, who may frame us.

* ``api_token``: every request needs ``Authorization: Bearer <token>``. A browser that cannot
  send headers (an ``<iframe>``) opens ``/?token=<token>`` once: the token is swapped for an
  HttpOnly session cookie and the browser is redirected to the page without it, so the token does
  not linger in the frame's address or in later Referer headers. ``?token=`` counts only on that
  ``GET`` of the page (``/`` under the root path), and access-log lines show it as
  ``token=[redacted]``. The cookie is signed with the token and expires after
  ``session_max_age`` seconds; changing the token ends every session at once.
* Request bodies over ``max_body_bytes`` get 413 before anything reads them.
* ``trusted_user_header``: a reverse proxy that authenticates users names them in this header;
  a request without it is refused (only safe when the app is reachable through that proxy alone).
* Both set: both are required. Neither: open, as a local single-user tool.
* ``allowed_origins``: the parent app's CORSMiddleware (an empty list when unset, so no origin
  gets CORS headers). Its presence also makes Gradio's own CORS middleware stand aside; Gradio's
  would otherwise echo back any origin.
* ``frame_ancestors``: ``Content-Security-Policy: frame-ancestors`` on every response ('self' when
  unset), so only the listed portals can embed the chat.

``/healthz`` stays open for load-balancer probes; it reveals only counts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from urllib.parse import urlencode

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection

from .openai_compat import PREFIX as OPENAI_PREFIX
from .openai_compat import auth_error_body

TOKEN_PARAM = "token"
TOKEN_COOKIE = "episode_assistant_session"
PUBLIC_PATHS = frozenset({"/healthz"})


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(",", " ").split() if v.strip()]


class PortalAuth:
    """Decides who a request comes from; ``None`` means it is refused."""

    def __init__(self, settings):
        self.token = settings.api_token or None
        self.header = settings.trusted_user_header or None
        self.max_age = int(settings.session_max_age)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.header)

    def _sign(self, issued: str, nonce: str) -> str:
        message = f"episode-assistant ui session|{issued}|{nonce}".encode()
        return hmac.new(self.token.encode(), message, hashlib.sha256).hexdigest()

    def cookie_value(self, issued: float | None = None) -> str:
        """``<issued>.<nonce>.<signature>``: a value signed with the token, not the token (leaking
        the cookie does not leak the credential scripts use), different for every session, and
        refused once ``max_age`` seconds old or once the token changes."""
        issued_at, nonce = str(int(time.time() if issued is None else issued)), secrets.token_hex(8)
        return f"{issued_at}.{nonce}.{self._sign(issued_at, nonce)}"

    def cookie_ok(self, value: str) -> bool:
        issued, _, rest = value.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (issued.isdigit() and nonce and signature):
            return False
        if not hmac.compare_digest(signature.encode(), self._sign(issued, nonce).encode()):
            return False
        return -60 <= time.time() - int(issued) < self.max_age  # a minute of clock skew

    def _token_ok(self, conn: HTTPConnection) -> bool:
        auth = conn.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return True
        return self.cookie_ok(conn.cookies.get(TOKEN_COOKIE, ""))

    def query_token_ok(self, conn: HTTPConnection) -> bool:
        return bool(self.token) and hmac.compare_digest(
            conn.query_params.get(TOKEN_PARAM, "").encode(), self.token.encode()
        )

    def user(self, conn: HTTPConnection, query_token: bool = False) -> str | None:
        """``query_token``: a ``?token=`` counts too (only the iframe's GET of the page)."""
        if self.token and not (self._token_ok(conn) or (query_token and self.query_token_ok(conn))):
            return None
        if self.header:
            return conn.headers.get(self.header, "").strip() or None
        return "token-holder" if self.token else "anonymous"

    def refusal(self, conn: HTTPConnection) -> str:
        if self.header and not conn.headers.get(self.header, "").strip():
            return f"missing the {self.header} header set by the authenticating proxy"
        return "missing or wrong credentials: send 'Authorization: Bearer <token>'"

    def gradio_dependency(self):
        """For ``gr.mount_gradio_app(auth_dependency=...)``: Gradio learns the user name and
        refuses its own routes too, should a request ever get past the middleware."""
        return self.user if self.enabled else None


class SecurityHeaders:
    """Outermost (pure ASGI, so streams pass untouched): the headers go on every response,
    refusals and CORS preflights included."""

    def __init__(self, app, settings):
        self.app = app
        ancestors = " ".join(split_list(settings.frame_ancestors)) or "'self'"
        self.headers = {
            "content-security-policy": f"frame-ancestors {ancestors}",
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in self.headers.items():
                    headers.setdefault(k, v)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AuthMiddleware:
    """Inside CORS (a preflight carries no credentials and must not be refused)."""

    def __init__(self, app, settings, root_path: str = ""):
        self.app = app
        self.auth = PortalAuth(settings)
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not self.auth.enabled:
            return await self.app(scope, receive, send)
        conn = HTTPConnection(scope)
        route = scope["path"][len(scope.get("root_path", "")) :] or "/"
        if route in PUBLIC_PATHS:
            return await self.app(scope, receive, send)
        page = scope["type"] == "http" and scope["method"] == "GET" and route == "/"
        if self.auth.user(conn, query_token=page) is None:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            message = self.auth.refusal(conn)
            # an OpenAI client reads {"error": {...}}, everything else {"detail": ...}
            body = auth_error_body(message) if route.startswith(OPENAI_PREFIX) else {"detail": message}
            return await _respond(send, 401, body, {"WWW-Authenticate": "Bearer"})
        if page and self.auth.query_token_ok(conn):
            return await self._swap_token_for_cookie(scope, send)
        await self.app(scope, receive, send)

    async def _swap_token_for_cookie(self, scope, send):
        query = urlencode(
            [(k, v) for k, v in QueryParams(scope["query_string"].decode()).multi_items() if k != TOKEN_PARAM]
        )
        # always the page itself, as a path of this origin: never built from the request's path
        # (``//evil.example/`` would be a protocol-relative, off-site Location)
        location = f"{self.root_path}/" + (f"?{query}" if query else "")
        # a portal on another site needs SameSite=None (which requires Secure, i.e. https);
        # Partitioned keeps the cookie working where third-party cookies are blocked
        cross_site = "; Secure; SameSite=None; Partitioned" if scope.get("scheme") == "https" else "; SameSite=Lax"
        cookie = (
            f"{TOKEN_COOKIE}={self.auth.cookie_value()}; Path={self.root_path or '/'}; "
            f"Max-Age={self.auth.max_age}; HttpOnly{cross_site}"
        )
        await _respond(send, 303, None, {"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"})


async def _respond(send, status: int, body: dict | None, headers: dict[str, str]) -> None:
    data = json.dumps(body).encode() if body is not None else b""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Request bodies over ``max_bytes`` get 413 before the app (and its JSON parser) sees them:
    by ``Content-Length``, or, for a chunked body, by counting while it is read ahead."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    def _too_large(self, size: str) -> dict:
        return {"detail": f"the request body is {size} bytes; the limit is {self.max_bytes:,} (max_body_bytes)"}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if length.strip().isdigit() and int(length) > self.max_bytes:
                return await _respond(send, 413, self._too_large(f"{int(length):,}"), {"Connection": "close"})
            return await self.app(scope, receive, send)  # the server stops the body at its length
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return await self.app(scope, receive, send)
        messages, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await _respond(send, 413, self._too_large(f"over {self.max_bytes:,}"), {"Connection": "close"})
            messages.append(message)
            if not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


_TOKEN_MARK = f"{TOKEN_PARAM}="
_TOKEN_IN_LINE = re.compile(rf"([?&]{_TOKEN_MARK})[^&\s\"]*")


class RedactToken(logging.Filter):
    """Access-log lines show ``?token=[redacted]`` (uvicorn logs the path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and _TOKEN_MARK in a for a in record.args):
            record.args = tuple(
                _TOKEN_IN_LINE.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str) and _TOKEN_MARK in record.msg:
            record.msg = _TOKEN_IN_LINE.sub(r"\1[redacted]", record.msg)
        return True


def redact_tokens_in_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactToken) for f in logger.filters):
        logger.addFilter(RedactToken())


def add_cors(app, settings) -> None:
    """Added even with no origins: its presence is what makes Gradio's permissive CORS stand aside."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=split_list(settings.allowed_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )


class RootPath:
    """Serves under a path prefix whether or not the proxy strips it: sets ``root_path`` and makes
    ``path`` carry the prefix, as the ASGI spec has it (Starlette strips it again to route)."""

    def __init__(self, app, root_path: str):
        self.app = app
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope, receive, send):
        root = self.root_path
        if root and scope["type"] in ("http", "websocket"):
            scope = dict(scope, root_path=root)
            path = scope["path"]
            if not (path == root or path.startswith(root + "/")):
                scope["path"] = root + path
                scope["raw_path"] = root.encode() + (scope.get("raw_path") or path.encode())
        await self.app(scope, receive, send)
