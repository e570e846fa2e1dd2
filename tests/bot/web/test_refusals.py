"""One way to say no over HTTP: a Refusal raised in any route is answered by one middleware."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from jobs.refusal import Refusal
from messages.catalog import html_to_plain
from tests.bot.web.conftest import auth


async def _refusing(request: web.Request) -> web.Response:
    """A route that says no the way every route does: it raises, and catches nothing."""
    raise Refusal(request.match_info["key"], query="Zoë <b>", length=6)


async def test_a_refusal_raised_in_a_route_is_answered_with_its_status_and_the_bot_text(web_bot, caplog):
    caplog.set_level(logging.INFO)
    app = build_web_app(web_bot.services, web_bot.app.bot)
    app.router.add_get("/refuse/{key}", _refusing)
    catalog = web_bot.services.catalog
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        invalid = await client.get("/refuse/console_unknown_patient")
        not_found = await client.get("/refuse/booking_unknown_patient")
        answers = await invalid.json(), await not_found.json()
    assert invalid.status == 422 and not_found.status == 404
    assert answers[0] == {"error": "invalid", "key": "console_unknown_patient", "field": None,
                          "message": html_to_plain(catalog.bot("en", "console_unknown_patient", query="Zoë <b>"))}
    assert "Zoë <b>" in answers[0]["message"]  # plain text for a program: the escaping undone, not doubled
    assert answers[1]["error"] == "not_found"
    assert answers[1]["message"] == html_to_plain(catalog.bot("en", "booking_unknown_patient")) != ""
    # The request log sees the status the refusal got (the middleware sits inside it), with no values.
    assert "GET /refuse/console_unknown_patient 422" in caplog.text and "Zoë" not in caplog.text


async def test_the_routes_refuse_by_raising(web_bot, http, api_key):
    answer = await http.get("/api/v1/patients/4242", headers=auth(api_key))
    assert answer.status == 404
    assert (await answer.json())["message"] == html_to_plain(web_bot.services.catalog.bot("en", "api_not_found"))
