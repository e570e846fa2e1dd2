"""GET /healthz and GET /metrics against the running application, and the request log."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from jobs.ops.health import beat
from jobs.storage.states import InboxStatus
from tests.conftest import PATIENT_ID


async def test_healthz_is_503_until_the_dispatcher_beats_then_200(web_bot, http):
    response = await http.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["database"] == "reachable" and body["problems"] == ["the dispatcher has never run on this database"]
    web_bot.services.store.call(beat, now=web_bot.clock())
    response = await http.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["pending"] == 0 and body["due"] == 0
    assert datetime.fromisoformat(body["dispatcher_heartbeat"]) == web_bot.clock()


async def test_healthz_says_why_when_the_heartbeat_is_old_or_reminders_wait(web_bot, http):
    await web_bot.link()
    web_bot.services.store.call(beat, now=web_bot.clock())
    web_bot.clock.advance(days=2)  # nothing sent for two days: the next steps are long due
    response = await http.get("/healthz")
    assert response.status == 503
    problems = (await response.json())["problems"]
    assert any("no dispatcher heartbeat for 2880 minutes" in problem for problem in problems)
    assert any("reminders due, the oldest for" in problem for problem in problems)


async def test_healthz_is_503_when_the_database_is_gone(web_bot, http, monkeypatch):
    def broken(function, /, **kwargs):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(web_bot.services.store, "call", broken)
    response = await http.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["database"] == "unreachable" and body["problems"] == ["database unreachable (ConnectionError)"]


async def test_metrics_are_prometheus_text_read_from_the_database(web_bot, http):
    await web_bot.link()
    web_bot.clock.advance(minutes=3)
    await web_bot.dispatch()
    response = await http.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    families = {family.name: family for family in text_string_to_metric_families(await response.text())}
    statuses = {sample.labels["status"]: sample.value for sample in families["aftercare_reminders"].samples}
    sent = statuses["sent"]
    assert sent >= 1 and statuses["pending"] >= 1 and set(statuses) >= {"waiting", "failed", "cancelled"}
    deliveries = {sample.labels["outcome"]: sample.value for sample in families["aftercare_deliveries"].samples
                  if sample.name.endswith("_total")}
    assert deliveries["sent"] == sent and deliveries["blocked"] == 0
    lag = {(sample.name, sample.labels.get("le")): sample.value
           for sample in families["aftercare_dispatch_lag_seconds"].samples}
    assert lag[("aftercare_dispatch_lag_seconds_count", None)] == sent
    assert lag[("aftercare_dispatch_lag_seconds_bucket", "+Inf")] == sent
    # What was due at the link went at once: within the first bucket.
    assert lag[("aftercare_dispatch_lag_seconds_bucket", "1")] == sent
    assert list(families["aftercare_inbox_open_items"].samples) == []  # nothing waits in the inbox yet


async def test_every_request_is_logged_with_method_path_status_and_time_never_a_name(web_bot, http, caplog):
    caplog.set_level(logging.INFO, logger="bot.web.access_log")
    await http.get("/healthz?patient=Anna")
    await http.get("/no/such/route")
    lines = [record.getMessage() for record in caplog.records if record.name == "bot.web.access_log"]
    assert lines[0].startswith("http GET /healthz 503 ") and lines[0].endswith(" ms")
    assert lines[1].startswith("http GET /no/such/route 404 ")
    assert not any("Anna" in line for line in lines)


async def test_the_heartbeat_counts_for_health_only_while_fresh(web_bot, http):
    web_bot.services.store.call(beat, now=web_bot.clock() - timedelta(minutes=2))
    assert (await http.get("/healthz")).status == 200
    assert PATIENT_ID  # the harness' patient is not needed here


async def test_the_lag_histogram_counts_a_late_send_in_its_bucket(web_bot, http):
    from jobs.storage.models import Reminder
    from jobs.storage.states import ReminderStatus

    await web_bot.link()
    with web_bot.session() as session:
        row = session.exec(Reminder.__table__.select().where(Reminder.status == ReminderStatus.SENT)).first()
        reminder = session.get(Reminder, row.id)
        reminder.sent_at = reminder.due_at + timedelta(minutes=10)  # ten minutes late
        session.add(reminder)
        session.commit()
    text = await (await http.get("/metrics")).text()
    samples = {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text)
               if f.name == "aftercare_dispatch_lag_seconds" for s in f.samples}
    count = samples[("aftercare_dispatch_lag_seconds_count", None)]
    assert samples[("aftercare_dispatch_lag_seconds_bucket", "300")] == count - 1
    assert samples[("aftercare_dispatch_lag_seconds_bucket", "900")] == count
    assert 599 <= samples[("aftercare_dispatch_lag_seconds_sum", None)] <= 601


async def test_open_inbox_items_are_reported_by_kind(web_bot, http):
    from sqlmodel import Session

    from jobs.storage.models import InboxItem

    now = web_bot.services.clock()
    with Session(web_bot.services.store.engine) as session:
        session.add_all([InboxItem(kind="worried", status=status, opened_at=now, raised_at=now)
                         for status in ("open", "taken")])
        session.add(InboxItem(kind="photo", status=InboxStatus.RESOLVED, opened_at=now, raised_at=now))
        session.commit()
    text_format = await (await http.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text_format)}
    open_items = {s.labels["kind"]: s.value for s in families["aftercare_inbox_open_items"].samples}
    assert open_items == {"worried": 2}
