"""The JSON API in the audit trail: each enrollment and read of a patient is one row by the key's name,
and each refused key one refusal row (tests/bot/test_audit_trail.py covers the chat and the command line)."""

from __future__ import annotations

from tests.bot.test_audit_trail import PATIENT_NAME, PHONE, Trail, no_patient_data
from tests.bot.web.conftest import auth


async def test_the_api_records_views_enrollments_and_refused_keys(web_bot, http, api_key):
    trail = Trail(web_bot)
    trail.new()  # the key's creation (by the system here: no door was passed)
    response = await http.post("/api/v1/enrollments", json={"name": PATIENT_NAME, "phone": PHONE},
                               headers=auth(api_key))
    patient_id = (await response.json())["patient_id"]
    trail.one("enroll", face="api", actor="api_key", actor_id=None, patient_id=patient_id)
    assert trail.rows()[-1].actor_name == "practice-system"
    assert (await http.get(f"/api/v1/patients/{patient_id}", headers=auth(api_key))).status == 200
    trail.one("view_patient", face="api", actor="api_key", actor_id=None, patient_id=patient_id)
    assert (await http.get("/api/v1/patients/99", headers=auth(api_key))).status == 404
    assert trail.new() == []
    assert (await http.get(f"/api/v1/patients/{patient_id}", headers=auth("ak_" + "x" * 43))).status == 401
    trail.one("access", outcome="refused", face="api", actor="api_key", actor_id=None)
    assert (await http.get(f"/api/v1/patients/{patient_id}")).status == 401
    trail.one("access", outcome="refused", face="api", actor="api_key", actor_id=None)
    assert trail.rows()[-1].actor_name is None
    no_patient_data(trail)
