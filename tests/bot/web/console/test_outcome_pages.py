"""Outcomes in the console: the patient's answers (and their changes) and review requests on the timeline,
the answers' spread, the share answered and the review requests as charts on /console/stats."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape

from jobs.care.outcomes import OutcomeFigures, outcome_figures, outcome_periods
from tests.bot.web.console.conftest import sign_in
from tests.conftest import OTHER_ID, PATIENT_ID

REVIEW_URL = "https://g.page/r/clinica-sol/review"
PUBLIC_URL = "http://127.0.0.1:8089"  # plain HTTP: the test client keeps the console's cookie


# A clinic with a review page, counting opened links through its own address, open on weekdays.
OUTCOMES_ENV = {"HTTP_PORT": "8089", "PUBLIC_URL": PUBLIC_URL, "REVIEW_URL": REVIEW_URL,
                "CLINIC_HOURS": "Mon-Fri 09:00-19:00"}


@pytest.fixture
def console_env() -> dict[str, str]:
    return dict(OUTCOMES_ENV)


async def after_the_series(bot, web, clock, fake_api):
    """Anna answers "much improved", then changes it; Ben answers "very much worse"; both get the review
    request, and Anna opens its link."""
    await bot.link("/enroll Anna K session=3/3")
    await bot.link("/enroll Ben Ortega session=3/3", user_id=OTHER_ID)
    clock.set_local(30, 11, 5)  # Thu 24 Dec 2026: a month after the last session, the clinic open
    await bot.dispatch()
    message_id, data = bot.buttons(PATIENT_ID)
    await bot.press(PATIENT_ID, data[1], message_id)  # much improved
    clock.advance(days=1)
    await bot.press(PATIENT_ID, data[0], message_id)  # changed: very much improved
    message_id, data = bot.buttons(OTHER_ID)
    await bot.press(OTHER_ID, data[-1], message_id)  # very much worse
    clock.set_local(33, 11, 5)
    await bot.dispatch()
    [[button]] = fake_api.sent_messages(PATIENT_ID)[-1].params["reply_markup"]["inline_keyboard"]
    assert (await web.get(button["url"].removeprefix(PUBLIC_URL), allow_redirects=False)).status == 302


def _table(html: str, title: str) -> list[list[str]]:
    """The rows (header first) of the data table of the chart called ``title``, each cell's text."""
    figure = html.split(f"<h2>{title}</h2>", 1)[1].split("</figure>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", figure, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in rows]


async def test_the_timeline_shows_outcome_answers_their_changes_and_review_requests(console_bot, web, clock,
                                                                                      fake_api):
    await after_the_series(console_bot, web, clock, fake_api)
    await sign_in(console_bot, web)
    anna = await (await web.get("/console/patients/1")).text()
    # The outcome step in the timeline, then /patient's own section: the answer, changed once, and when first given.
    assert "One month after the series: how it turned out — answered: Very much improved" in anna
    assert "How it turned out" in anna
    assert re.search(r"• One month after the series: how it turned out: Very much improved \(changed; changes: 1; "
                     r"first answered Thu 24 December, 11:05\) — Fri 25 December, 11:05", anna), anna
    assert "Review request — review link opened" in anna
    ben = await (await web.get("/console/patients/2")).text()
    assert "• One month after the series: how it turned out: 📉 Very much worse" in ben
    assert "(changed" not in ben and "Review request — link not opened yet" in ben
    # The chat's /patient says the same.
    await console_bot.send(1001, "/patient 1")
    assert "Very much improved (changed; changes: 1; first answered" in fake_api.texts(1001)[-1]


async def test_stats_charts_the_answers_the_share_answered_and_the_review_requests(console_bot, web, clock, fake_api):
    await after_the_series(console_bot, web, clock, fake_api)
    await sign_in(console_bot, web)
    html = await (await web.get("/console/stats")).text()
    assert html.count("<svg") == 11 and html.count("<table") == 11
    by_protocol = _table(html, "Answers after the series, by protocol and question")
    assert by_protocol[0] == ["Answer", "Microneedling, One month after the series: how it turned out"]
    assert ["Very much improved", "1"] in by_protocol and ["Very much worse", "1"] in by_protocol
    assert ["No change", "0"] in by_protocol and len(by_protocol) == 1 + 7  # every answer of the scale, in order
    assert [row[0] for row in by_protocol[1:3]] == ["Very much improved", "Much improved"]
    by_sessions = _table(html, "Answers after the series, by number of sessions")
    assert by_sessions[0] == ["Answer", "after session 3"] and ["Very much worse", "1"] in by_sessions
    answered = _table(html, "Outcome questions asked and answered per week")
    assert answered[0][1:] == ["asked", "answered"] and answered[-1][1:] == ["2", "2"]
    assert sum(int(row[1]) for row in answered[1:]) == 2  # each question counted in the week it was sent
    assert _table(html, "Share of outcome questions answered")[-1][1] == "100%"
    reviews = _table(html, "Review requests sent and opened per week")
    assert reviews[0][1:] == ["sent", "opened"] and reviews[-1][1:] == ["2", "1"]
    # /stats' own lines in the summary, word for word.
    assert "2 of 2 outcome questions answered (100%), 1 worse." in html
    assert "Review requests: 2 sent, 1 opened." in html
    # The weeks are /stats' figures period by period: each step in the period it was sent in, adding up.
    store, now = console_bot.services.store, clock()
    starts = [now - timedelta(days=40), now - timedelta(days=3, hours=1), now - timedelta(days=1)]
    periods = store.call(outcome_periods, starts=starts)
    assert [(week.asked, week.answered, week.reviews_sent) for week in periods] == [(0, 0, 0), (2, 2, 0), (0, 0, 2)]
    assert OutcomeFigures.merged(periods) == store.call(outcome_figures, since=starts[0])
    # Readable without colour: a pattern and a legend in words for each series.
    legend = html.split("<h2>Answers after the series, by number of sessions</h2>", 1)[1].split("</svg>", 1)[0]
    assert '<text x="54" y="19">after session 3</text>' in legend and 'fill-opacity="0.75"' in legend


async def test_before_any_answer_the_scale_is_charted_at_zero(console_bot, web):
    await sign_in(console_bot, web)
    html = await (await web.get("/console/stats")).text()
    reviews = _table(html, "Review requests sent and opened per week")
    assert reviews[0][1:] == ["sent", "opened"]  # counted here: PUBLIC_URL and HTTP_PORT are set
    # Nothing answered yet: the scale's answers at zero, said in words.
    by_protocol = _table(html, "Answers after the series, by protocol and question")
    assert by_protocol[0] == ["Answer", "no answers yet"] and by_protocol[1] == ["Very much improved", "0"]


@pytest.mark.parametrize("console_env", [{"HTTP_PORT": "8089", "REVIEW_URL": REVIEW_URL}])
async def test_without_the_redirect_opened_is_not_charted_and_the_page_says_why(console_bot, web, console_env):
    await sign_in(console_bot, web)
    html = await (await web.get("/console/stats")).text()
    reviews = _table(html, "Review requests sent and opened per week")
    assert reviews[0][1:] == ["sent"]
    assert str(escape(console_bot.services.text("en", "console_web_reviews_not_counted"))) in html
