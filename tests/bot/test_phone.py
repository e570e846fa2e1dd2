"""End to end: a phone number given at enrollment, checked, shown to staff, erased with the patient."""

from __future__ import annotations

import pytest

from jobs.inputs import InputRefused, display_phone, parse_phone, phone_region
from jobs.storage.models import Booking, BookingEvent, Patient
from jobs.storage.states import PatientStatus
from tests.conftest import PATIENT_ID, STAFF_ID


@pytest.mark.parametrize(("typed", "region", "stored"), [
    ("+34 600 000 000", None, "+34600000000"),
    ("+34-600-000-000", "GB", "+34600000000"),
    ("600 000 000", "ES", "+34600000000"),
    ("07911 123456", "GB", "+447911123456"),
])
def test_numbers_are_stored_as_e164(typed, region, stored):
    assert parse_phone(typed, region=region) == stored


@pytest.mark.parametrize("typed", ["600 000 000", "+34 12", "call me", "+34 600\x00000000", "+" + "1" * 40, "",
                                   "+34 600 000 000\u202e"])
def test_what_is_not_a_usable_number_is_refused(typed):
    with pytest.raises(InputRefused) as refused:
        parse_phone(typed, region=None)
    assert refused.value.key == "phone_invalid"


def test_the_clinic_number_gives_the_region_and_numbers_read_back_spaced():
    assert phone_region("+34 600 000 000") == "ES"
    assert phone_region("not a number") is None
    assert display_phone("+34600000000") == "+34 600 00 00 00"


async def test_enroll_with_a_phone_stores_it_and_the_patient_card_shows_it(harness, fake_api):
    # CLINIC_PHONE is Spanish in the test settings: a national number is read as Spanish.
    await harness.enroll("/enroll Anna K phone=600 111 222")
    [patient] = harness.rows(Patient)
    assert patient.phone == "+34600111222"
    assert patient.booking_ref and len(patient.booking_ref) >= 12
    await harness.send(STAFF_ID, f"/patient {patient.id}")
    assert "+34 600 11 12 22" in fake_api.texts(STAFF_ID)[-1]


async def test_a_bad_phone_is_explained_and_enrolls_nobody(harness, fake_api):
    await harness.send(STAFF_ID, "/enroll Anna K phone=12345")
    reply = fake_api.texts(STAFF_ID)[-1]
    assert "is not a phone number" in reply and "/enroll Anna K at=" in reply
    assert harness.rows(Patient) == []


async def test_delete_erases_the_phone_and_the_references(harness, fake_api):
    await harness.link("/enroll Anna K phone=+34 600 111 222")
    with harness.session() as session:
        patient = session.get(Patient, harness.rows(Patient)[0].id)
        patient.external_id = "crm-77"
        session.add(patient)
        now = harness.clock()
        booking = Booking(patient_id=patient.id, source="booking", booking_key="bk-1", start_at=now,
                          status="booked", created_at=now, updated_at=now)
        session.add(booking)
        session.flush()
        session.add(BookingEvent(booking_id=booking.id, source="booking", digest="d" * 64, kind="booked",
                                 received_at=harness.clock()))
        session.commit()
    await harness.send(PATIENT_ID, "/delete")
    message_id, data = harness.buttons(PATIENT_ID)
    await harness.press(PATIENT_ID, data[0], message_id)
    [patient] = harness.rows(Patient)
    assert patient.status == PatientStatus.DELETED
    assert (patient.phone, patient.external_id, patient.booking_ref) == (None, None, None)
    # The booking system's ids for the person go too.
    assert harness.rows(Booking) == [] and harness.rows(BookingEvent) == []
