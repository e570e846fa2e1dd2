"""The console's audit page: admins read the trail as ``aftercare audit`` prints it; other staff are refused."""

from __future__ import annotations

import re

from bot.web.console import audit_page
from jobs.ops.audit import verify
from jobs.storage.models import AuditEvent, StaffMember
from tests.bot.web.console.conftest import init_data, sign_in, tma
from tests.conftest import OTHER_ID, STAFF_ID

ROW = re.compile(r'<tr id="audit-(\d+)">(.*?)</tr>', re.S)


def _rows(html: str) -> dict[int, str]:
    """The table's rows by their number, each as its cells' text."""
    return {int(number): re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cells)).strip()
            for number, cells in ROW.findall(html)}


def _make_staff(bot, user_id: int = OTHER_ID, name: str = "Lucía") -> None:
    """An invited staff member (not an admin: admins are STAFF_IDS)."""
    with bot.session() as session:
        session.add(StaffMember(user_id=user_id, added_by=STAFF_ID, added_at=bot.clock(), name=name))
        session.commit()


async def test_an_admin_reads_the_trail_newest_first_with_names_and_clinic_time(console_bot, web, clock):
    await console_bot.enroll("/enroll Anna K")
    await console_bot.enroll("/enroll Ben Ortega")
    await sign_in(console_bot, web)
    await web.get("/console/patients/2")
    html = await (await web.get("/console/")).text()
    assert '<a href="/console/audit"' in html  # the nav offers it to admins
    response = await web.get("/console/audit")
    assert response.status == 200
    html = await response.text()
    rows = _rows(html)
    assert list(rows) == sorted(rows, reverse=True)  # newest first
    enrolls = [text for text in rows.values() if "enrolled" in text]
    assert len(enrolls) == 2 and all(f"Test ({STAFF_ID})" in text and "Telegram chat" in text for text in enrolls)
    [viewed] = [text for text in rows.values() if "viewed the record" in text]
    assert "#2" in viewed and "console" in viewed and "done" in viewed
    assert "signed in to the console" in " ".join(rows.values())
    # Clinic time (Madrid), as the intro says.
    local = clock().astimezone(console_bot.services.settings.clinic_timezone)
    assert "Europe/Madrid" in html and f"{local:%H:%M}" in html
    # Reading the trail is a row of it: the admin, through the console, how many rows they saw.
    last = console_bot.rows(AuditEvent)[-1]
    assert (last.action, last.actor_id, last.face, last.outcome, last.count) == (
        "view_audit", STAFF_ID, "console", "success", len(rows))
    # ... shown on the next reading, in words.
    assert "read the audit trail" in _rows(await (await web.get("/console/audit")).text())[last.id]
    assert console_bot.services.store.call(verify).ok


async def test_staff_who_are_not_admins_are_refused_and_the_refusal_is_recorded(console_bot, web):
    _make_staff(console_bot)
    await sign_in(console_bot, web, OTHER_ID)
    html = await (await web.get("/console/")).text()
    assert "/console/audit" not in html  # no link for them
    before = len(console_bot.rows(AuditEvent))
    response = await web.get("/console/audit")
    assert response.status == 403
    html = await response.text()
    assert console_bot.services.text("en", "not_admin") in html and 'id="audit-' not in html
    [refusal] = console_bot.rows(AuditEvent)[before:]
    assert (refusal.action, refusal.outcome, refusal.actor_id, refusal.face) == ("access", "refused", OTHER_ID,
                                                                                  "console")
    # The same in the Mini App; and for someone who is not staff at all, the usual door.
    response = await web.get("/console/audit", headers=tma(init_data(console_bot, OTHER_ID)))
    assert response.status == 403
    response = await web.get("/console/audit", headers=tma(init_data(console_bot, 4004)))
    assert response.status == 401
    assert [(row.action, row.outcome, row.actor_id) for row in console_bot.rows(AuditEvent)[before + 1:]] == [
        ("access", "refused", OTHER_ID), ("access", "refused", 4004)]
    assert not console_bot.rows(AuditEvent, AuditEvent.action == "view_audit")


async def test_the_filters_are_aftercare_audits_and_bad_ones_change_nothing(console_bot, web, clock):
    _make_staff(console_bot)
    await console_bot.enroll("/enroll Anna K")                 # patient 1, by the admin, day 0
    clock.advance(days=3)
    await console_bot.send(OTHER_ID, "/patient 1", first_name="Lucía")  # viewed by Lucía, day 3
    await console_bot.enroll("/enroll Ben Ortega")             # patient 2, by the admin, day 3
    await sign_in(console_bot, web)
    by_patient = _rows(await (await web.get("/console/audit", params={"patient": "1"})).text())
    assert by_patient and all("#1" in text for text in by_patient.values())
    assert any(f"Lucía ({OTHER_ID})" in text and "viewed the record" in text for text in by_patient.values()), by_patient
    by_staff = _rows(await (await web.get("/console/audit", params={"staff": str(OTHER_ID)})).text())
    assert by_staff and all(f"Lucía ({OTHER_ID})" in text for text in by_staff.values())
    local = clock().astimezone(console_bot.services.settings.clinic_timezone)
    since = _rows(await (await web.get("/console/audit", params={"since": f"{local:%Y-%m-%d}"})).text())
    assert not any("#1" in text and "enrolled" in text for text in since.values())
    assert any("#2" in text and "enrolled" in text for text in since.values())
    # The view of a patient's trail is recorded about that patient; of a staff member's, about them.
    views = console_bot.rows(AuditEvent, AuditEvent.action == "view_audit")
    assert [(row.patient_id, row.subject) for row in views] == [(1, None), (None, str(OTHER_ID)), (None, None)]
    # Bad input: said why, the form keeps what was typed, nothing read and nothing recorded.
    count = len(console_bot.rows(AuditEvent))
    for params, key in (({"patient": "Anna"}, "console_web_audit_bad_patient"),
                        ({"staff": "9" * 30}, "console_web_audit_bad_staff"),
                        ({"since": "last week"}, "console_web_audit_bad_since"),
                        ({"since": "2026-02-30"}, "console_web_audit_bad_since")):
        response = await web.get("/console/audit", params=params)
        assert response.status == 422
        html = await response.text()
        assert console_bot.services.text("en", key) in html and not _rows(html)
        assert f'value="{next(iter(params.values()))[:40]}"' in html
    assert len(console_bot.rows(AuditEvent)) == count


async def test_pages_go_back_from_the_last_row_shown(console_bot, web, monkeypatch):
    monkeypatch.setattr(audit_page, "AUDIT_PAGE_SIZE", 3)
    for name in ("Anna K", "Ben Ortega", "Carla", "Dora"):
        await console_bot.enroll(f"/enroll {name}")
    await sign_in(console_bot, web)
    html = await (await web.get("/console/audit")).text()
    first = list(_rows(html))
    assert len(first) == 3
    older = re.search(r'href="(/console/audit\?before=\d+)"', html)
    assert older
    html = await (await web.get(older.group(1).replace("&amp;", "&"))).text()
    second = list(_rows(html))
    assert second and max(second) < min(first) and "Newest rows" in html
    # A page number someone typed wrong is the newest page, not an error.
    assert (await web.get("/console/audit", params={"before": "x"})).status == 200
