"""The API documents itself offline: /docs and /redoc load their scripts from the app, and the
OpenAPI schema lists every status the answer endpoints return, with its JSON shape."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(indexed_settings):
    from ui.app import create_app

    with TestClient(create_app(indexed_settings.model_copy(update={"answerer": "extractive"}))) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_from_the_app(client, page):
    html = client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize("path", ["/api/ask", "/api/ask/stream"])
def test_every_error_status_is_documented(client, path):
    responses = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    assert {"200", "400", "401", "404", "413", "422", "503"} <= set(responses)
    assert "Retry-After" in responses["503"]["headers"]
    for status in ("400", "401", "404", "413", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorModel"}


def test_an_unknown_episode_is_404_with_the_documented_shape(client):
    got = client.post("/api/ask", json={"question": "sample efficiency?", "episode": "nope"})
    assert got.status_code == 404 and set(got.json()) == {"detail"} and "nope" in got.json()["detail"]
    empty = client.post("/api/ask", json={"question": "  "})
    assert empty.status_code == 400 and set(empty.json()) == {"detail"}
    bad = client.post("/api/ask", json={"question": "q", "answerer": "gpt-9"})
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], list)
