"""The name to call the patient by (issue 19): ``/enroll … call=Anna``, the form, the API's ``called`` and the
import's ``called`` column all go through the one enrollment reader; the default is the first word of the
name. Patients read it in every message that greets them; staff screens keep the full name."""

from __future__ import annotations

from datetime import timedelta

from jobs.storage.models import Patient
from tests.bot.test_import import HEADER, do_import, write
from tests.conftest import PATIENT_ID, STAFF_ID


async def test_enroll_call_is_the_name_patients_read_and_staff_keep_the_full_name(harness, fake_api, clock):
    await harness.link("/enroll Anna Karenina call=Annie phone=+34 611 222 333")
    greeting = fake_api.texts(PATIENT_ID)[-1]
    assert "Annie" in greeting and "Karenina" not in greeting
    clock.set_local(0, 21, 30)  # the first evening check-in
    await harness.dispatch()
    checkin = fake_api.texts(PATIENT_ID)[-1]
    assert "Annie" in checkin and "Karenina" not in checkin
    await harness.send(STAFF_ID, "/patient 1")
    assert "Anna Karenina" in fake_api.texts(STAFF_ID)[-1]
    [patient] = harness.rows(Patient)
    assert (patient.name, patient.called) == ("Anna Karenina", "Annie")


async def test_by_default_patients_are_greeted_by_the_first_word_of_their_name(harness, fake_api, clock):
    await harness.link("/enroll María José Ruiz lang=es")
    greeting = fake_api.texts(PATIENT_ID)[-1]
    assert "María" in greeting and "José Ruiz" not in greeting
    assert harness.rows(Patient)[0].called == "María"


async def test_a_bad_called_name_is_refused_with_its_option(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll Anna K call=" + "x" * 80)
    assert "60 characters at most" in fake_api.texts(STAFF_ID)[-1]
    assert harness.rows(Patient) == []


async def test_the_form_offers_the_called_name_as_an_option(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll")
    await harness.send(STAFF_ID, "Anna Karenina")
    form_message = len(fake_api.sent_messages(STAFF_ID))
    await harness.press(STAFF_ID, "enroll:protocol:microneedling", form_message)
    await harness.press(STAFF_ID, "enroll:number:1", form_message)
    screen = fake_api.calls_to("editMessageText")[-1].params["text"]
    assert "Called: Anna" in screen  # the default shown before anyone asks
    await harness.press(STAFF_ID, "enroll:option:called", form_message)
    await harness.send(STAFF_ID, "Annie")
    assert "Called: Annie" in fake_api.texts(STAFF_ID)[-1]
    await harness.press(STAFF_ID, "enroll:when:now", len(fake_api.sent_messages(STAFF_ID)))
    [patient] = harness.rows(Patient)
    assert (patient.name, patient.called) == ("Anna Karenina", "Annie")


async def test_the_import_takes_a_called_column(harness, clock, tmp_path):
    session_at = (clock() - timedelta(hours=1)).isoformat()
    path = write(tmp_path, HEADER.strip() + ",called\n" + f"Anna Karenina,{session_at},1,,,,,,,Annie\n"
                 f"Pia Jones,{session_at},1,,,,,,,\n")
    outcome, lines = do_import(harness, path, cards=False)
    assert outcome.status == 0, lines
    assert [(p.name, p.called) for p in harness.rows(Patient)] == [("Anna Karenina", "Annie"), ("Pia Jones", "Pia")]
