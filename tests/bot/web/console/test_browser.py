"""The console in a real browser: Debian's Chromium driven by Playwright, against the real bot and pages.

A front-desk day (sign in by the link, find a patient, take and resolve an inbox item, enroll and
decode the QR on screen, open stats) and the same console as a Telegram Mini App (signed initData,
a recording ``window.TelegramWebviewProxy``, the theme applied). Playwright's own browser download is
not used: the tests launch the system's Chromium by its path, and skip saying so when there is none
(under ``CI=true`` they fail instead: ``.ci/run`` installs it).

With ``AFTERCARE_SCREENSHOTS=<folder>`` the tests save the pages at phone (360 px) and desk (1280 px)
widths there: ``AFTERCARE_SCREENSHOTS=docs/console python -m pytest tests/bot/web/console/test_browser.py``
regenerates the pictures in the docs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import zxingcpp
from PIL import Image

from jobs.storage.models import InboxItem, Patient
from tests.bot.web.console.conftest import init_data, login_link
from tests.bot.web.console.test_outcome_pages import OUTCOMES_ENV, after_the_series
from tests.conftest import PATIENT_ID, in_ci

CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage"]
PHONE, DESK = {"width": 360, "height": 780}, {"width": 1280, "height": 900}
THEME = {"bg_color": "#1c2733", "text_color": "#f5f5f5", "hint_color": "#7d8b99", "link_color": "#62bcf9",
         "button_color": "#50a8eb", "button_text_color": "#ffffff", "secondary_bg_color": "#131a22"}


def chromium() -> str | None:
    """The system's Chromium (Debian's package), or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in CHROMIUM_PATHS if Path(path).exists()), None)


@pytest.fixture
async def browser():
    path = chromium()
    if path is None:
        reason = "no Chromium: apt-get install -y chromium-headless-shell (Playwright's own download is not used)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if in_ci():
            raise
        pytest.skip("playwright is not installed: pip install '.[test]'")
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, args=ARGS, headless=True)
        yield launched
        await launched.close()


async def shoot(page, name: str) -> None:
    """Save the page at phone and desk widths when AFTERCARE_SCREENSHOTS names a folder."""
    folder = os.environ.get("AFTERCARE_SCREENSHOTS")
    if not folder:
        return
    await asyncio.to_thread(Path(folder).mkdir, parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desk", DESK)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=label == "desk")
    await page.set_viewport_size(DESK)


async def test_a_front_desk_day_in_a_browser(console_bot, web, browser, fake_api, tmp_path):
    await console_bot.link()
    await console_bot.send(PATIENT_ID, "My cheek is hot and swollen")
    base = str(web.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport=DESK, color_scheme="light")
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    # Sign in by the link the bot gave in the chat.
    await page.goto(base + await login_link(console_bot))
    await page.wait_for_url(base + "/console/")
    await page.get_by_role("heading", name="Inbox — 1 open or taken").wait_for()
    await shoot(page, "today")
    # Take, then resolve with a note: the buttons are forms, sent by htmx.
    await page.get_by_role("button", name="Take").click()
    await page.get_by_role("status").filter(has_text="is yours").wait_for()
    await page.get_by_label("Note (optional)").fill("called her, all fine")
    await page.get_by_role("button", name="Resolve").click()
    await page.get_by_text("Nothing is waiting").wait_for()
    (item,) = console_bot.rows(InboxItem)
    assert (item.status, item.note) == ("resolved", "called her, all fine")
    # Find a patient, open the timeline.
    await page.get_by_role("link", name="Patients").click()
    await page.get_by_label("Name or number").fill("ANNA")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="Anna K").click()
    await page.get_by_role("heading", name="Anna K (#1)").wait_for()
    await shoot(page, "patient")
    # Enroll, and read the QR code off the screen as a phone camera would.
    await page.get_by_role("link", name="Enroll").first.click()
    await page.get_by_label("Patient's name").fill("Bea Ruiz")
    await page.get_by_label("Called (optional)").fill("Bea")
    await page.get_by_label("Session (2 or 2/4)").fill("2/4")
    await shoot(page, "enroll")
    await page.get_by_role("button", name="Enroll and show the QR code").click()
    qr = page.locator("#invite-qr")
    await qr.wait_for()
    await page.get_by_role("status").filter(has_text="Called: Bea").wait_for()
    await shoot(page, "invite")
    picture = tmp_path / "qr.png"
    await qr.screenshot(path=str(picture))
    (found,) = zxingcpp.read_barcodes(Image.open(picture))
    assert found.text.startswith(f"https://t.me/{fake_api.username}?start=")
    assert [p.name for p in console_bot.rows(Patient)] == ["Anna K", "Bea Ruiz"]
    # The month's charts.
    await page.get_by_role("link", name="Stats").click()
    await page.get_by_role("heading", name="Enrollments and links per week").wait_for()
    assert await page.locator("figure.chart svg").count() == 11
    await shoot(page, "stats")
    # Dark: the same page in the system's dark scheme, still readable.
    await page.emulate_media(color_scheme="dark")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)"
    await shoot(page, "stats-dark")
    # Sign out: the console is closed to this browser.
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_text("You are signed out.").wait_for()
    await page.goto(base + "/console/")
    await page.get_by_role("heading", name="Sign in to the staff console").wait_for()
    if not os.environ.get("AFTERCARE_SCREENSHOTS"):  # a screenshot injects a style of Playwright's own
        assert not [error for error in errors if "Content Security Policy" in error], errors
    await context.close()


@pytest.mark.parametrize("console_env", [OUTCOMES_ENV])
async def test_outcomes_on_a_timeline_and_the_audit_trail_in_a_browser(console_bot, web, browser, clock, fake_api,
                                                                        console_env):
    await after_the_series(console_bot, web, clock, fake_api)
    base = str(web.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport=DESK, color_scheme="light")
    page = await context.new_page()
    await page.goto(base + await login_link(console_bot))
    await page.wait_for_url(base + "/console/")
    # Anna's answers after the series on her page: changed once, and her review link opened.
    await page.goto(base + "/console/patients/1")
    await page.get_by_text("How it turned out", exact=True).wait_for()
    await page.get_by_text("Very much improved (changed; changes: 1;").wait_for()
    await page.get_by_text("Review request — review link opened").wait_for()
    await shoot(page, "patient-outcomes")
    # The charts of the answers, with their tables.
    await page.get_by_role("link", name="Stats").click()
    await page.get_by_role("heading", name="Answers after the series, by protocol and question").wait_for()
    table = page.get_by_role("table", name="Answers after the series, by protocol and question: the numbers")
    await table.get_by_role("row", name="Very much worse 1").wait_for()
    await page.get_by_role("heading", name="Answers after the series, by protocol and question").scroll_into_view_if_needed()
    await shoot(page, "stats-outcomes")
    # An admin's nav has the audit trail; a filter by patient keeps that patient's rows.
    await page.get_by_role("link", name="Audit trail").click()
    await page.get_by_role("heading", name="Audit trail").wait_for()
    await page.get_by_label("Patient number").fill("2")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/console/audit?patient=2**")
    rows = page.locator("table.audit tbody tr")
    assert await rows.count() >= 1
    assert all("#2" in text for text in await rows.all_inner_texts())
    await shoot(page, "audit")
    await context.close()


# Telegram's script talks to the app through this object: each call is recorded, and the BackButton's
# state is mirrored on <html data-back> so the test can wait for it without evaluating strings (the CSP).
RECORDER = """
window.__events = [];
window.TelegramWebviewProxy = {postEvent: function (type, data) {
  window.__events.push([type, data]);
  if (type === 'web_app_setup_back_button') {
    document.documentElement.dataset.back = String(JSON.parse(data).is_visible);
  }
}};
"""


async def test_the_console_as_a_mini_app(console_bot, web, browser):
    await console_bot.link()
    base = str(web.make_url("/")).rstrip("/")
    context = await browser.new_context(viewport=PHONE)
    await context.add_init_script(RECORDER)
    page = await context.new_page()
    fragment = urlencode_hash({"tgWebAppData": init_data(console_bot), "tgWebAppVersion": "8.0",
                               "tgWebAppPlatform": "android", "tgWebAppThemeParams": json.dumps(THEME)})
    await page.goto(f"{base}/console/app#{fragment}")
    await page.get_by_role("heading", name="Inbox — 0 open or taken").wait_for()

    async def events(kind: str) -> list[dict]:
        recorded = await page.evaluate("window.__events")
        return [json.loads(data) if data else {} for event, data in recorded if event == kind]

    # The page's one primary action is Telegram's MainButton; no back on the first page.
    main = await events("web_app_setup_main_button")
    assert main and main[-1]["is_visible"] and main[-1]["text"] == "Enroll"
    assert all(not back.get("is_visible") for back in await events("web_app_setup_back_button"))
    # Telegram's theme colours are the page's.
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(28, 39, 51)"
    await shoot(page, "mini-app-today")
    # Another page: BackButton appears, MainButton becomes that page's action.
    await page.get_by_role("link", name="Patients").click()
    await page.get_by_role("heading", name="Patients").wait_for()
    await page.locator("html[data-back='true']").wait_for(state="attached")
    assert (await events("web_app_setup_main_button"))[-1]["text"] == "Search"
    # Pressing MainButton (Telegram's event) runs the page's action: the search.
    await page.get_by_label("Name or number").fill("anna")
    assert await poll(lambda: events("web_app_setup_main_button"), lambda mains: mains[-1].get("text") == "Search")
    await page.evaluate("window.Telegram.WebView.receiveEvent('main_button_pressed')")
    await page.get_by_role("link", name="Anna K").wait_for()
    # Pressing BackButton goes up: from a patient to the list, from the list to today.
    await page.get_by_role("link", name="Anna K").click()
    await page.get_by_role("heading", name="Anna K (#1)").wait_for()
    assert await poll(lambda: events("web_app_setup_main_button"), lambda mains: mains[-1].get("text") == "Send")
    await page.evaluate("window.Telegram.WebView.receiveEvent('back_button_pressed')")
    await page.get_by_label("Name or number").wait_for()
    # Settled (the page's buttons are set up after the swap): the list's MainButton is back.
    assert await poll(lambda: events("web_app_setup_main_button"), lambda mains: mains[-1].get("text") == "Search")
    await page.evaluate("window.Telegram.WebView.receiveEvent('back_button_pressed')")
    await page.get_by_role("heading", name="Inbox — 0 open or taken").wait_for()
    assert await poll(lambda: events("web_app_setup_back_button"), lambda backs: not backs[-1]["is_visible"]), (await page.evaluate("window.__events"))[-6:]
    await context.close()


async def poll(read, done, *, tries: int = 100):
    """``read()`` until ``done(value)``: the browser settles a swap a few milliseconds after it shows."""
    for _ in range(tries):
        value = await read()
        if done(value):
            return True
        await asyncio.sleep(0.05)
    return False


def urlencode_hash(values: dict[str, str]) -> str:
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in values.items())
