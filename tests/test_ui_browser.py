"""The chat in a real browser (headless Debian chromium via playwright): embedded in the example
portal with a token, and episode text carrying HTML that must show as text."""

from __future__ import annotations

import re
import shutil
from urllib.parse import quote

import pytest

from conftest import EPISODE_ID, ROOT
from ui_helpers import XSS, artifacts_dir, chromium, running_app, static_files, write_xss_episode

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="Debian chromium is not installed (apt-get install -y chromium chromium-driver)",
    ),
]
expect = pytest.importorskip("playwright.sync_api").expect
TIMEOUT = 60_000  # ms; answers take well under a second, the first page load a few seconds


def ask(frame, question: str):
    """Type a question into the chat and return the locator of the reply that follows it."""
    before = frame.get_by_test_id("bot").count()
    box = frame.get_by_test_id("textbox")
    box.fill(question)
    box.press("Enter")
    reply = frame.get_by_test_id("bot").nth(before)
    # the streamed text is replaced by the final answer: a sources panel or a notice
    expect(reply.locator(".ea-sources, .ea-notice")).to_be_visible(timeout=TIMEOUT)
    return reply


def test_portal_embeds_the_chat_with_a_token(indexed_settings, tmp_path):
    from ui.app import create_app

    portal = tmp_path / "portal"
    portal.mkdir()
    shutil.copy(ROOT / "ui" / "portal_example.html", portal / "index.html")
    with static_files(portal) as portal_url:
        settings = indexed_settings.model_copy(
            update={"answerer": "extractive", "api_token": "s3cret", "frame_ancestors": portal_url}
        )
        with running_app(create_app(settings)) as app_url, chromium(tmp_path) as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            hosts = set()
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            page.goto(f"{portal_url}/index.html?app=" + quote(f"{app_url}/?token=s3cret", safe=""))
            chat = page.frame_locator("#assistant")
            expect(chat.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
            expect(chat.get_by_text("sample efficiency?")).to_be_visible()  # the example questions
            page.screenshot(path=str(artifacts_dir() / "portal-start.png"), full_page=True)

            reply = ask(chat, "What do they predict about software engineering agents?")
            expect(reply).to_contain_text("[1]")
            reply.locator("summary").click()
            expect(reply.locator(".ea-meta code").first).to_have_text(re.compile(rf"^{EPISODE_ID}/[a-z]+/\d+$"))
            expect(reply.locator(".ea-meta").first).to_contain_text("lines ")
            page.screenshot(path=str(artifacts_dir() / "portal-chat.png"), full_page=True)

            # asked alone, "by when?" is refused; after the question above it is read as a follow-up
            by_when = ask(chat, "by when?")
            expect(by_when.locator(".ea-sources")).to_be_visible()
            expect(by_when.locator(".ea-notice")).to_have_count(0)

            refused = ask(chat, "Can you give me a good chocolate cake recipe?")
            expect(refused.locator(".ea-notice")).to_contain_text("Not covered")

            page.screenshot(path=str(artifacts_dir() / "portal-chat-end.png"), full_page=True)
            # offline: the portal and the app are the only hosts the browser talked to
            assert hosts == {portal_url.split("/")[2], app_url.split("/")[2]}


def test_episode_html_shows_as_text(settings, tmp_path):
    from ui.app import create_app
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    settings = settings.model_copy(update={"answerer": "extractive"})
    assert [
        r.status for r in ingest([write_xss_episode(tmp_path / "episodes")], EpisodeStore(settings), progress=False)
    ] == ["added"]
    with running_app(create_app(settings)) as app_url, chromium(tmp_path) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(app_url + "/")
        expect(page.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)

        answer = ask(page, "What does the best sourdough starter need?")
        answer.locator("summary").click()
        expect(answer.locator(".ea-answer")).to_contain_text(XSS)  # the tag, as text
        expect(answer.locator(".ea-quote")).to_contain_text(XSS)
        refused = ask(page, "Who won the football world cup in 2018?")  # the refusal quotes the title
        expect(refused).to_contain_text(f"Kitchen gadgets {XSS}")

        page.wait_for_timeout(500)  # give a broken image's onerror time to fire
        page.screenshot(path=str(artifacts_dir() / "episode-html-as-text.png"), full_page=True)
        assert page.locator("img[src='x']").count() == 0
        assert (
            page.evaluate(
                "() => [...document.querySelectorAll('img')]"
                ".filter(i => i.getAttribute('src') === 'x' || i.hasAttribute('onerror')).length"
            )
            == 0
        )
        assert dialogs == []


def test_web_component_from_the_app_under_a_prefix(indexed_settings, tmp_path):
    """``<gradio-app>`` loaded from the app's own /gradio.js (no CDN) on a listed origin."""
    from ui.app import create_app

    portal = tmp_path / "portal"
    portal.mkdir()
    with static_files(portal) as portal_url:
        settings = indexed_settings.model_copy(update={"answerer": "extractive", "allowed_origins": portal_url})
        with running_app(create_app(settings, root_path="/assistant")) as app_url, chromium(tmp_path) as browser:
            app = f"{app_url}/assistant"
            (portal / "index.html").write_text(
                f'<!doctype html><h1>Portal</h1><script type="module" src="{app}/gradio.js"></script>'
                f'<gradio-app src="{app}/"></gradio-app>',
                encoding="utf-8",
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{portal_url}/index.html")
            expect(page.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
            reply = ask(page, "sample efficiency?")
            expect(reply.locator(".ea-ref").first).to_have_text("[1]")
