"""``GET /metrics``: Prometheus's text format, from a registry of our own filled at scrape time.

The figures are read from the database when Prometheus asks (jobs/ops/metrics.py), so they are the
same on every instance sharing it and nothing is lost by a restart. The read takes no write lock
(:meth:`jobs.storage.db.Store.read_call`): a scrape flood never makes a staff reply wait. With
``METRICS_TOKEN`` set, a scrape must send it as a bearer token.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session

from bot.services import Services
from bot.web.common import SERVICES, json_error
from jobs.ops import metrics
from jobs.ops.health import last_beat
from jobs.staff.outbox import outbox_counts
from jobs.storage.states import ReminderStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


def _read(session: Session, *, now) -> dict:
    """Everything a scrape reports, in one transaction."""
    return {"reminders": metrics.reminders_by_status(session), "deliveries": metrics.deliveries_by_outcome(session),
            "lag": metrics.dispatch_lag(session), "inbox": metrics.open_inbox_items(session),
            "heartbeat": last_beat(session), "outbox": outbox_counts(session, now=now)}


class DatabaseCollector(Collector):
    """The bot's figures as metric families, read from the database on each collect."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self):
        """Yield the families (called by ``generate_latest`` on a worker thread)."""
        figures = self.services.store.read_call(_read, now=self.services.clock())
        reminders = GaugeMetricFamily("aftercare_reminders", "Reminder rows by status.", labels=["status"])
        for status in ReminderStatus:
            reminders.add_metric([status.value], figures["reminders"].get(status.value, 0))
        yield reminders
        deliveries = CounterMetricFamily("aftercare_deliveries", "Reminders sent, skipped or failed, by outcome.",
                                         labels=["outcome"])
        for outcome in ("sent", "skipped", "blocked", "refused", "broken", "gave_up"):
            deliveries.add_metric([outcome], figures["deliveries"].get(outcome, 0))
        yield deliveries
        lag = figures["lag"]
        buckets = [(_bound(bound), count) for bound, count in lag.buckets] + [("+Inf", lag.count)]
        yield HistogramMetricFamily("aftercare_dispatch_lag_seconds",
                                    "How late sent reminders went out: from due to sent.",
                                    buckets=buckets, sum_value=lag.total_seconds)
        if figures["heartbeat"] is not None:
            yield GaugeMetricFamily("aftercare_dispatcher_heartbeat_timestamp_seconds",
                                    "When a dispatcher last beat (Unix time).", value=figures["heartbeat"].timestamp())
        notices = GaugeMetricFamily("aftercare_staff_notices",
                                    "Staff outbox: notices waiting (of which due now) and failed for good.",
                                    labels=["state"])
        for state in ("pending", "due", "failed"):
            notices.add_metric([state], figures["outbox"][state])
        yield notices
        if figures["inbox"] is not None:
            inbox = GaugeMetricFamily("aftercare_inbox_open_items", "Staff inbox items not resolved yet, by kind.",
                                      labels=["kind"])
            for kind, count in sorted(figures["inbox"].items()):
                inbox.add_metric([kind], count)
            yield inbox


def _bound(seconds: float) -> str:
    return f"{seconds:g}" if seconds < 1e6 else str(int(seconds))


async def scrape(request: web.Request) -> web.Response:
    """The text format Prometheus reads; with METRICS_TOKEN set, only for a scrape that sends it."""
    token = request.app[SERVICES].settings.metrics_token
    if token and not _bearer_matches(request.headers.get("Authorization", ""), token):
        return json_error(401, "unauthorized", "send the METRICS_TOKEN as a bearer token",
                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await asyncio.to_thread(generate_latest, request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Compared in constant time, as bytes: a header may hold any character.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def add_routes(app: web.Application) -> None:
    """Register ``/metrics`` with a registry of its own (not the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(app[SERVICES]))
    app[REGISTRY] = registry
    app.router.add_get("/metrics", scrape, allow_head=False)
