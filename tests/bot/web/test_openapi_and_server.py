"""The OpenAPI document against the application's routes (both ways), and the server on a real port."""

from __future__ import annotations

import socket

import aiohttp

from bot.settings import Settings
from bot.web.app import build_web_app, start_http
from bot.web.openapi import DOCUMENT

METHODS = {"get", "post", "put", "patch", "delete"}


def _app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        # The staff console is pages for people (docs/staff-guide.md), not part of the machine API.
        if not path.startswith("/console"):
            routes.add((route.method.lower(), path))
    return routes


async def test_every_route_is_in_the_openapi_document_and_back(web_bot, http):
    served = await (await http.get("/api/v1/openapi.json")).json()
    assert served == DOCUMENT and served["openapi"].startswith("3.")
    documented = {(method, path) for path, item in served["paths"].items() for method in item if method in METHODS}
    assert _app_routes(build_web_app(web_bot.services, web_bot.app.bot)) == documented
    # Every $ref points at a schema the document has, and every operation says what it answers.
    text = str(served)
    for name in served["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in text or name == "Error"
    for path, item in served["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            assert "security" in operation, (method, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_http_port_serves_on_loopback(web_bot):
    port = _free_port()
    settings = Settings.from_env({**web_bot.env, "HTTP_PORT": str(port)})
    assert settings.http_listen == "127.0.0.1"
    runner = await start_http(web_bot.services, web_bot.app.bot, settings)
    try:
        async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 503  # no heartbeat yet: the dispatcher has not run
            assert (await response.json())["database"] == "reachable"
    finally:
        await runner.cleanup()
