"""The chat in a real browser (headless Debian chromium via playwright): progress while an answer is
made, sources that open from their markers, a refusal's suggested questions, the layout at 420 px,
the offline /docs page, the portal pages, and episode text carrying HTML that must show as text.

Screenshots land in out/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import shutil
import threading
from urllib.parse import quote

import pytest

from conftest import EPISODE_ID, ROOT
from ui_helpers import (
    XSS,
    chromium,
    running_app,
    screenshot,
    static_files,
    write_second_episode,
    write_xss_episode,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="Debian chromium is not installed (apt-get install -y chromium chromium-driver)",
    ),
]
expect = pytest.importorskip("playwright.sync_api").expect
TIMEOUT = 60_000  # ms; answers take well under a second, the first page load a few seconds
RL = "What has changed in the past year with RL and language models?"
AGENTS = "What do they predict about software engineering agents?"
CAKE = "Can you give me a good chocolate cake recipe?"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium")) as b:
        yield b


@pytest.fixture(scope="module")
def app_url(indexed_settings):
    """The app on the bundled episode with the extractive answerer (fast, no model)."""
    from ui.app import create_app

    with running_app(create_app(indexed_settings.model_copy(update={"answerer": "extractive"}))) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    yield page
    context.close()


def open_chat(page, url: str):
    page.goto(url, wait_until="load")
    expect(page.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
    return page


def send(frame, question: str):
    """Type a question into the chat; returns the locator of the reply that follows it."""
    before = frame.get_by_test_id("bot").count()
    box = frame.get_by_test_id("textbox")
    box.fill(question)
    box.press("Enter")
    return frame.get_by_test_id("bot").nth(before)


def ask(frame, question: str):
    """``send`` and wait for the final reply: a sources panel or a notice."""
    reply = send(frame, question)
    expect(reply.locator(".ea-sources, .ea-notice").first).to_be_visible(timeout=TIMEOUT)
    return reply


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


# --- progress ---------------------------------------------------------------------------------
def test_progress_shows_before_the_first_sentence(indexed_settings, browser, page):
    """The chain is held twice: before it starts (the chat must already say it is searching) and
    before its first text (the chat must still show progress, not an empty or final answer)."""
    from assistant.chain import EpisodeAssistant
    from ui.app import create_app

    class Held(EpisodeAssistant):
        def __init__(self, settings):
            super().__init__(settings)
            self.search, self.write = threading.Event(), threading.Event()

        def stream(self, query, **options):
            self.search.wait(TIMEOUT / 1000)
            for event in super().stream(query, **options):
                if event["type"] in ("token", "answer"):
                    self.write.wait(TIMEOUT / 1000)
                yield event

    bot = Held(indexed_settings.model_copy(update={"answerer": "extractive"}))
    try:
        with running_app(create_app(bot.settings, bot)) as url:
            open_chat(page, url + "/")
            reply = send(page, AGENTS)
            expect(reply.locator(".ea-progress")).to_have_text("Searching the episode…")
            screenshot(page, "progress-searching")

            bot.search.set()  # retrieval runs and the chain says "writing"; its first sentence is held
            expect(reply.locator(".ea-progress")).to_have_text("Writing the answer…")
            expect(reply.locator(".ea-answer")).to_have_count(0)
            screenshot(page, "progress-writing")

            bot.write.set()
            expect(reply.locator(".ea-sources")).to_be_visible()
            expect(reply.locator(".ea-progress")).to_have_count(0)
    finally:
        bot.search.set()
        bot.write.set()


# --- sources as proof -------------------------------------------------------------------------
def test_a_marker_opens_its_source_and_sources_read_as_proof(app_url, page):
    open_chat(page, app_url + "/")
    screenshot(page, "desktop-start")
    # the options are one closed control under the input: open it and search the summary only
    summary_only = page.get_by_role("checkbox", name="Summary", exact=True)
    expect(summary_only).to_be_hidden()
    page.get_by_text("Options").click()
    summary_only.check()
    screenshot(page, "desktop-options-open")
    page.get_by_text("Options").click()

    reply = ask(page, "What are the key technical insights and the business angle?")
    sources = reply.locator(".ea-source")
    expect(sources.first).to_be_hidden()  # the panel starts closed
    reply.locator("a.ea-ref").first.click()
    expect(sources.first).to_be_visible()
    expect(sources.first).to_be_in_viewport()
    expect(sources.first).to_have_id(re.compile(r"^ea[0-9a-f]+-1$"))
    page.wait_for_timeout(800)  # let the smooth scroll finish before the picture
    screenshot(page, "desktop-answer-sources-open")

    texts = sources.all_inner_texts()
    assert texts and all("Summary section" in t for t in texts)
    assert not [t for t in texts if "**" in t or "###" in t or re.search(r"(?m)^\s*[*#]", t)]
    first = texts[0]
    assert "Is RL + LLMs enough for AGI?" in first  # the episode's title
    assert re.search(r"summary section \d+ · lines \d+–\d+", first)  # a readable location
    expect(sources.first.locator("strong").first).to_be_visible()  # bold lead phrases, rendered
    expect(sources.first.locator(".ea-meta code")).to_have_text(re.compile(rf"^{EPISODE_ID}/summary/\d+$"))

    # a quote: kind, topic, quote number and lines
    page.get_by_text("Options").click()
    summary_only.uncheck()
    page.get_by_text("Options").click()
    quote = ask(page, AGENTS)
    quote.locator("summary").click()
    spoken = quote.locator(".ea-source", has_text="Speaker quote").first
    expect(spoken.locator(".ea-where")).to_have_text(re.compile(r"quote \d+ · lines \d+–\d+"))


# --- refusals ----------------------------------------------------------------------------------
def test_a_refusal_offers_questions_that_send_on_click(app_url, page):
    """The refusal's suggested questions show as buttons; a click asks that question."""
    open_chat(page, app_url + "/")
    refused = ask(page, CAKE)
    expect(refused.locator(".ea-notice")).to_contain_text("Not covered")
    buttons = refused.locator("button.ea-suggest")
    expect(buttons.first).to_be_visible()
    screenshot(page, "refusal-with-suggestions")

    suggestion = buttons.last.inner_text()
    buttons.last.click()
    expect(page.get_by_test_id("user").last).to_have_text(suggestion)
    answered = page.get_by_test_id("bot").last
    expect(answered.locator(".ea-sources")).to_be_visible(timeout=TIMEOUT)  # suggestions are answerable


# --- layout ------------------------------------------------------------------------------------
def test_usable_at_420_px(app_url, browser):
    context = browser.new_context(viewport={"width": 420, "height": 800})
    page = context.new_page()
    try:
        open_chat(page, app_url + "/")
        expect(page.get_by_text("What do they predict about software engineering agents?")).to_be_visible()
        expect(page.get_by_role("checkbox", name="Quotes", exact=True)).to_be_hidden()  # options folded away
        assert no_horizontal_scroll(page)
        screenshot(page, "narrow-420-start")

        ask(page, RL)
        reply = ask(page, AGENTS)
        page.wait_for_timeout(500)  # the chat scrolls to the new message
        expect(reply).to_be_in_viewport()
        expect(page.get_by_test_id("textbox")).to_be_in_viewport()
        box, shown = page.get_by_test_id("textbox").bounding_box(), reply.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 420
        assert shown["x"] >= 0 and shown["x"] + shown["width"] <= 420
        assert no_horizontal_scroll(page)
        # the floating "scroll down" arrow would sit on the text
        expect(page.locator(".scroll-down-button-container")).to_be_hidden()
        screenshot(page, "narrow-420-answer")

        reply.locator("a.ea-ref").first.click()
        expect(reply.locator(".ea-source").first).to_be_in_viewport()
        assert no_horizontal_scroll(page)
        page.wait_for_timeout(800)  # let the smooth scroll finish before the picture
        screenshot(page, "narrow-420-source-open")
    finally:
        context.close()


def test_examples_follow_the_index_on_reload(writable_store_settings, tmp_path, page):
    from ui.app import create_app
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    settings = writable_store_settings.model_copy(update={"answerer": "extractive"})
    with running_app(create_app(settings)) as url:
        open_chat(page, url + "/")
        expect(page.get_by_text(RL)).to_be_visible()
        new = write_second_episode(tmp_path / "new")
        assert [r.status for r in ingest([new], EpisodeStore(settings), progress=False)] == ["added"]
        open_chat(page, url + "/")
        example = page.get_by_text("What do they say about steam injection matters?")
        expect(example).to_be_visible()
        example.click()  # an example asks itself
        expect(page.get_by_test_id("bot").last.locator(".ea-sources")).to_be_visible(timeout=TIMEOUT)


# --- docs and portal pages -----------------------------------------------------------------------
def test_docs_render_offline(app_url, page):
    hosts = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.goto(app_url + "/docs", wait_until="load")
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".opblock-summary-path", has_text="/api/ask/stream")).to_be_visible()
    expect(page.get_by_text("Answer a question with citations")).to_be_visible()
    screenshot(page, "docs")
    assert hosts == {app_url.split("/")[2]}  # nothing from a CDN


def test_portal_example_served_by_the_app_as_documented(indexed_settings, page):
    """docs/embedding.md, step by step: with a token, open /?token=THE_TOKEN, then /portal-example."""
    from ui.app import create_app

    settings = indexed_settings.model_copy(update={"answerer": "extractive", "api_token": "s3cret"})
    with running_app(create_app(settings)) as url:
        page.goto(f"{url}/?token=s3cret", wait_until="load")
        assert "token" not in page.url  # swapped for a cookie
        page.goto(f"{url}/portal-example", wait_until="load")
        chat = page.frame_locator("#assistant")
        expect(chat.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
        reply = ask(chat, RL)
        expect(reply.locator("a.ea-ref").first).to_have_text("[1]")
        screenshot(page, "portal-example-served")


def test_portal_on_another_origin_embeds_the_chat_with_a_token(indexed_settings, page, tmp_path):
    from ui.app import create_app

    portal = tmp_path / "portal"
    portal.mkdir()
    shutil.copy(ROOT / "ui" / "portal_example.html", portal / "index.html")
    with static_files(portal) as portal_url:
        settings = indexed_settings.model_copy(
            update={"answerer": "extractive", "api_token": "s3cret", "frame_ancestors": portal_url}
        )
        with running_app(create_app(settings)) as app_url:
            hosts = set()
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            page.goto(f"{portal_url}/index.html?app=" + quote(f"{app_url}/?token=s3cret", safe=""))
            chat = page.frame_locator("#assistant")
            expect(chat.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
            expect(chat.get_by_text("sample efficiency?")).to_be_visible()  # the example questions

            reply = ask(chat, AGENTS)
            expect(reply).to_contain_text("[1]")
            reply.locator("a.ea-ref").first.click()
            expect(reply.locator(".ea-meta code").first).to_have_text(re.compile(rf"^{EPISODE_ID}/[a-z]+/\d+$"))
            expect(reply.locator(".ea-where").first).to_contain_text("lines ")

            # asked alone, "by when?" is refused; after the question above it is read as a follow-up
            by_when = ask(chat, "by when?")
            expect(by_when.locator(".ea-sources")).to_be_visible()
            expect(by_when.locator(".ea-notice")).to_have_count(0)

            refused = ask(chat, CAKE)
            expect(refused.locator(".ea-notice")).to_contain_text("Not covered")
            screenshot(page, "portal-other-origin")
            # offline: the portal and the app are the only hosts the browser talked to
            assert hosts == {portal_url.split("/")[2], app_url.split("/")[2]}


def test_web_component_from_the_app_under_a_prefix(indexed_settings, page, tmp_path):
    """``<gradio-app>`` loaded from the app's own /gradio.js (no CDN) on a listed origin; markers
    still open their sources there, and /docs works under the prefix."""
    from ui.app import create_app

    portal = tmp_path / "portal"
    portal.mkdir()
    with static_files(portal) as portal_url:
        settings = indexed_settings.model_copy(update={"answerer": "extractive", "allowed_origins": portal_url})
        with running_app(create_app(settings, root_path="/assistant")) as app_url:
            app = f"{app_url}/assistant"
            (portal / "index.html").write_text(
                f'<!doctype html><h1>Portal</h1><script type="module" src="{app}/gradio.js"></script>'
                f'<gradio-app src="{app}/"></gradio-app>',
                encoding="utf-8",
            )
            page.goto(f"{portal_url}/index.html")
            expect(page.get_by_test_id("textbox")).to_be_visible(timeout=TIMEOUT)
            reply = ask(page, "sample efficiency?")
            reply.locator("a.ea-ref").first.click()
            expect(reply.locator(".ea-source").first).to_be_visible()

            page.goto(f"{app}/docs")
            expect(page.locator(".opblock-summary-path", has_text="/api/ask").first).to_be_visible(timeout=TIMEOUT)


# --- untrusted episode text -----------------------------------------------------------------------
def test_episode_html_shows_as_text(settings, page, tmp_path):
    from ui.app import create_app
    from vectorstore.ingest import ingest
    from vectorstore.store import EpisodeStore

    settings = settings.model_copy(update={"answerer": "extractive"})
    assert [
        r.status for r in ingest([write_xss_episode(tmp_path / "episodes")], EpisodeStore(settings), progress=False)
    ] == ["added"]
    with running_app(create_app(settings)) as app_url:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        open_chat(page, app_url + "/")

        answer = ask(page, "What does the best sourdough starter need?")
        answer.locator("summary").click()
        expect(answer.locator(".ea-answer")).to_contain_text(XSS)  # the tag, as text
        expect(answer.locator(".ea-quote").first).to_contain_text(XSS)
        expect(answer.locator(".ea-episode").first).to_contain_text(f"Kitchen gadgets {XSS}")
        refused = ask(page, "Who won the football world cup in 2018?")  # the refusal quotes the title
        expect(refused).to_contain_text(f"Kitchen gadgets {XSS}")

        page.wait_for_timeout(500)  # give a broken image's onerror time to fire
        screenshot(page, "episode-html-as-text")
        assert page.locator("img[src='x']").count() == 0
        assert (
            page.evaluate(
                "() => [...document.querySelectorAll('img')]"
                ".filter(i => i.getAttribute('src') === 'x' || i.hasAttribute('onerror')).length"
            )
            == 0
        )
        assert dialogs == []
