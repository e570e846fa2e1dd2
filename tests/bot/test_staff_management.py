"""End to end: admins invite and remove staff; menus are scoped."""

from __future__ import annotations

from bot.menus import set_menus
from jobs.storage.models import StaffMember
from tests.conftest import OTHER_ID, PATIENT_ID, STAFF_ID


async def test_admin_invites_a_colleague_who_becomes_staff_then_is_removed(harness, fake_api):
    await harness.send(STAFF_ID, "/staffinvite")
    link = fake_api.texts(STAFF_ID)[-1].split("?start=")[1].split()[0]
    assert link.startswith("staff-")
    await harness.send(OTHER_ID, f"/start {link}", first_name="Lucía", last_name="Pérez", username="lucia_p")
    assert "Welcome to the team" in fake_api.texts(OTHER_ID)[-1]
    assert [m.user_id for m in harness.rows(StaffMember)] == [OTHER_ID]
    assert any(c.params.get("scope", {}).get("chat_id") == OTHER_ID for c in fake_api.calls_to("setMyCommands"))
    await harness.send(OTHER_ID, "/enroll Anna K")
    assert fake_api.calls_to("sendPhoto")[-1].params["chat_id"] == OTHER_ID
    # Staff are not admins: they cannot change the staff list.
    await harness.send(OTHER_ID, "/staffinvite")
    assert "Only the clinic's admins" in fake_api.texts(OTHER_ID)[-1]
    # The invite was single use.
    await harness.send(PATIENT_ID, f"/start {link}")
    assert "doesn't work" in fake_api.texts(PATIENT_ID)[-1]
    await harness.send(STAFF_ID, "/staff")
    assert f"Invited: Lucía Pérez (@lucia_p) ({OTHER_ID})" in fake_api.texts(STAFF_ID)[-1]
    assert harness.rows(StaffMember)[0].name == "Lucía Pérez (@lucia_p)"
    await harness.send(STAFF_ID, f"/removestaff {OTHER_ID}")
    assert harness.rows(StaffMember) == []
    await harness.send(OTHER_ID, "/patients")
    assert fake_api.texts(OTHER_ID)[-1] == "Sorry, this command is for the clinic team only."
    await harness.send(STAFF_ID, "/removestaff abc")
    assert "Write <code>/removestaff" in fake_api.texts(STAFF_ID)[-1]


async def test_command_menus_are_scoped(harness, fake_api):
    await set_menus(harness.app.bot, harness.services)
    calls = fake_api.calls_to("setMyCommands")
    default = [c for c in calls if c.params.get("scope", {}).get("type") == "default" and not c.params.get("language_code")]
    staff = [c for c in calls if c.params.get("scope", {}).get("chat_id") == STAFF_ID]
    patient_names = [command["command"] for command in default[-1].params["commands"]]
    staff_names = [command["command"] for command in staff[-1].params["commands"]]
    assert "status" in patient_names and "enroll" not in patient_names
    assert "enroll" in staff_names and "staffinvite" in staff_names
    assert any(c.params.get("language_code") == "es" for c in calls)


async def test_a_telegram_name_with_a_nul_byte_joins_without_it(harness, fake_api):
    """PostgreSQL refuses NUL in text: a colleague whose Telegram name has one still joins (both databases)."""
    await harness.send(STAFF_ID, "/staffinvite")
    link = fake_api.texts(STAFF_ID)[-1].split("?start=")[1].split()[0]
    await harness.send(OTHER_ID, f"/start {link}", first_name="Lu\x00cía", last_name="P\ud800", username="lucia_p")
    assert "Welcome to the team" in fake_api.texts(OTHER_ID)[-1]
    assert harness.rows(StaffMember)[0].name == "Lucía P\ufffd (@lucia_p)"
    assert any("Lucía P\ufffd (@lucia_p)" in text for text in fake_api.texts(STAFF_ID))
