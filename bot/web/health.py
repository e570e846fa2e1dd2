"""``GET /healthz``: 200 while the database answers and the dispatcher beats, 503 with the reason otherwise.

The judgement is :func:`jobs.ops.health.health_report`'s, which ``aftercare check`` prints too.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.access_log import _reason
from bot.web.common import SERVICES
from jobs.ops.health import health_report, unreachable


async def healthz(request: web.Request) -> web.Response:
    """The small JSON of :meth:`jobs.ops.health.Health.as_json`."""
    services = request.app[SERVICES]
    now = services.clock()
    try:
        report = await services.store.run(health_report, now=now)
    except Exception as exc:  # noqa: BLE001 - a database that cannot be asked is the answer itself
        report = unreachable(_reason(exc))
    return web.json_response(report.as_json(now=now), status=200 if report.ok else 503)


def add_routes(app: web.Application) -> None:
    """Register ``/healthz``."""
    app.router.add_get("/healthz", healthz, allow_head=False)
