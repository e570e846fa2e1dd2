"""A patient's words that PostgreSQL cannot store as text (a NUL byte, a lone surrogate) still reach
staff, and the inbox item they open is stored: what the fuzz test found on PostgreSQL."""

from __future__ import annotations

from jobs.inputs import storable_text
from jobs.storage.models import InboxItem, InboxView
from tests.conftest import PATIENT_ID, STAFF_ID


def test_storable_text_drops_nul_and_lone_surrogates_and_keeps_the_rest():
    assert storable_text("a\x00b\ud800c 😀 ñ\n") == "ab\ufffdc 😀 ñ\n"
    assert storable_text("") == ""


async def test_a_message_with_a_nul_byte_opens_a_stored_inbox_item(harness, fake_api):
    await harness.link()
    await harness.send(PATIENT_ID, "it itches\x00 a lot \ud800 since this morning")
    assert any("it itches" in text for text in fake_api.texts(STAFF_ID))
    [item] = harness.rows(InboxItem, InboxItem.kind == "message")
    assert "\x00" not in item.text and "it itches" in item.text
    assert harness.rows(InboxView, InboxView.item_id == item.id)
