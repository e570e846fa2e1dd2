"""jobs/buttons.py is the one place buttons are made and read.

Every builder's data reads back through the one parser as what was put in, within Telegram's 64
bytes; and no other module names a callback prefix, builds callback data or reads it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from telegram import InlineKeyboardMarkup

from jobs import buttons
from jobs.buttons import (
    CHECKIN,
    CONFIRM,
    ENROLL_FORM,
    INBOX,
    LANGUAGE,
    MAX_CALLBACK_BYTES,
    MAX_PAGE,
    MAX_UNIX_TIME,
    OUTCOME,
    PATIENTS,
    PHOTO_REVIEW,
    REBOOK,
    SESSION_CONFIRM,
    SWITCH,
    Button,
    parse_callback,
)
from jobs.care.photos import REVIEWS
from jobs.inputs import MAX_ROW_ID
from messages.catalog import load_catalog
from messages.protocol import KIND_CHECKIN, KIND_INFO, KIND_REBOOK, PGIC, Scale

ROOT = Path(__file__).resolve().parents[2]
BIG = MAX_ROW_ID  # the largest id any button carries


def _label(key: str) -> str:
    return f"<{key}>"


def _keyboards() -> list[tuple[InlineKeyboardMarkup, list[Button]]]:
    """Every builder, with the largest numbers it may carry, and the buttons its data must read back as."""
    catalog = load_catalog()
    yes_no = [("yes"), ("no")]
    return [
        (buttons.reminder_keyboard(KIND_CHECKIN, BIG, catalog=catalog, locale="en"),
         [Button(CHECKIN, value=answer, number=BIG) for answer in ("fine", "red", "worried")]),
        (buttons.reminder_keyboard(KIND_REBOOK, BIG, catalog=catalog, locale="es"),
         [Button(REBOOK, value=answer, number=BIG) for answer in ("booked", "later", "stop")]),
        # An outcome step's scale, the default one and a protocol's own with the longest keys it may have.
        (buttons.outcome_keyboard(BIG, PGIC, catalog=catalog, locale="ar", chosen="mi"),
         [Button(OUTCOME, value=answer, number=BIG) for answer in PGIC.answers]),
        (buttons.outcome_keyboard(BIG, Scale("own", ("a" * 12, "b" * 12), frozenset({"b" * 12}),
                                             {"a" * 12: {"en": "A"}, "b" * 12: {"en": "B"}}),
                                  catalog=catalog, locale="tr"),
         [Button(OUTCOME, value="a" * 12, number=BIG), Button(OUTCOME, value="b" * 12, number=BIG)]),
        # Keep my photos to compare before and after? The chosen answer is marked; the data stays the same.
        (buttons.photo_consent_keyboard(BIG, yes="Y", no="N", chosen="no"),
         [Button(buttons.PHOTO_CONSENT, value=choice, number=BIG) for choice in yes_no]),
        (buttons.photo_review_keyboard(BIG, text=_label),
         [Button(PHOTO_REVIEW, value=review, number=BIG) for review in REVIEWS]),
        (buttons.inbox_keyboard(BIG, (buttons.INBOX_TAKE, buttons.INBOX_RESOLVE), text=_label),
         [Button(INBOX, value=action, number=BIG) for action in ("take", "done")]),
        # The photo's review above the inbox's row, as under a photo alert.
        (buttons.inbox_keyboard(7, (buttons.INBOX_RESOLVE,), text=_label,
                                extra=buttons.photo_review_keyboard(3, text=_label)),
         [*(Button(PHOTO_REVIEW, value=review, number=3) for review in REVIEWS), Button(INBOX, value="done", number=7)]),
        (buttons.confirm_keyboard("delete", "A" * 16, yes="Y", no="N"),
         [Button(CONFIRM, value="delete", choice=choice, nonce="A" * 16) for choice in yes_no]),
        (buttons.confirm_keyboard("stop", "n0nce-_", yes="Y", no="N"),
         [Button(CONFIRM, value="stop", choice=choice, nonce="n0nce-_") for choice in yes_no]),
        (buttons.language_keyboard([("en", "English"), ("es", "Español")]),
         [Button(LANGUAGE, value="en"), Button(LANGUAGE, value="es")]),
        (buttons.patients_keyboard([("active", "A"), ("due", "D")], current="due", page=MAX_PAGE - 1, pages=MAX_PAGE + 1,
                                   previous="<", following=">"),
         [Button(PATIENTS, value="active", number=0), Button(PATIENTS, value="due", number=0),
          Button(PATIENTS, value="due", number=MAX_PAGE - 2), Button(PATIENTS, value="due", number=MAX_PAGE)]),
        (buttons.switch_keyboard(BIG, yes="Y", no="N"),
         [Button(SWITCH, number=BIG, choice=choice) for choice in yes_no]),
        (buttons.session_confirm_keyboard(BIG, BIG, MAX_UNIX_TIME, yes="Y", no="N"),
         [Button(SESSION_CONFIRM, numbers=(BIG, BIG, MAX_UNIX_TIME), choice=choice) for choice in yes_no]),
        (buttons.staff_confirm_keyboard(buttons.STAFF_WITHDRAW, BIG, yes="Y", no="N"),
         [Button(buttons.STAFF_CONFIRM, value="withdraw", number=BIG, choice=choice) for choice in yes_no]),
        (buttons.not_continuing_keyboard(BIG, sure="S", keep="K"),
         [Button(buttons.REBOOK, value=answer, number=BIG) for answer in ("sure", "keep")]),
        (buttons.protocol_keyboard([("microneedling", "Microneedling"), ("p" * 40, "Long")]),
         [Button(ENROLL_FORM, value=buttons.ENROLL_PROTOCOL, choice="microneedling"),
          Button(ENROLL_FORM, value=buttons.ENROLL_PROTOCOL, choice="p" * 40)]),
        (buttons.session_number_keyboard(12),
         [Button(ENROLL_FORM, value=buttons.ENROLL_NUMBER, choice=str(n)) for n in range(1, 13)]),
        (buttons.series_length_keyboard(range(3, 100)),
         [Button(ENROLL_FORM, value=buttons.ENROLL_LENGTH, choice=str(n)) for n in range(3, 100)]),
        (buttons.enroll_language_keyboard("Their own", [("en", "English"), ("es", "Español")]),
         [Button(ENROLL_FORM, value=buttons.ENROLL_LANGUAGE, choice=code)
          for code in (buttons.ENROLL_LANGUAGE_AUTO, "en", "es")]),
        (buttons.enroll_zone_keyboard("Clinic's", "Another"),
         [Button(ENROLL_FORM, value=buttons.ENROLL_ZONE, choice=buttons.ENROLL_ZONE_CLINIC),
          Button(ENROLL_FORM, value=buttons.ENROLL_ZONE, choice=buttons.ENROLL_ZONE_OTHER)]),
        (buttons.when_keyboard("Now", "Other", [("length", "L"), ("language", "G"), ("zone", "Z")]),
         [Button(ENROLL_FORM, value=buttons.ENROLL_WHEN, choice=buttons.ENROLL_WHEN_NOW),
          Button(ENROLL_FORM, value=buttons.ENROLL_WHEN, choice=buttons.ENROLL_WHEN_OTHER),
          *(Button(ENROLL_FORM, value=buttons.ENROLL_OPTION, choice=option) for option in ("length", "language", "zone"))]),
    ]


def _data(markup: InlineKeyboardMarkup) -> list[str]:
    return [button.callback_data for row in markup.inline_keyboard for button in row]


@pytest.mark.parametrize(("markup", "expected"), _keyboards())
def test_every_builders_data_reads_back_as_what_was_put_in_within_64_bytes(markup, expected):
    data = _data(markup)
    assert [parse_callback(item) for item in data] == expected
    assert all(len(item.encode()) <= MAX_CALLBACK_BYTES for item in data)


def test_every_kind_of_button_has_a_builder_here():
    built = {button.kind for _, expected in _keyboards() for button in expected}
    assert built == set(buttons.KINDS)


def test_plain_information_has_no_buttons():
    assert buttons.reminder_keyboard(KIND_INFO, 1, catalog=load_catalog(), locale="en") is None


def test_data_telegram_would_refuse_is_never_built():
    """A protocol whose name leaves no room in 64 bytes fails here, not as Telegram's BUTTON_DATA_INVALID."""
    with pytest.raises(ValueError, match="64 bytes"):
        buttons.protocol_keyboard([("p" * 60, "Too long")])


@pytest.mark.parametrize("data", [
    "ci:²:fine", "ci:0:fine", f"ci:{MAX_ROW_ID + 1}:fine", "rb:1:maybe", "ph:1:", "ib:1:steal", "cf:delete",
    "cf:delete:yes:", "cf:erase:yes:x", "lang:", "pl:active:" + "9" * 30, "pl::0", "sw:1:maybe",
    "ss:1:2:3", f"ss:1:2:{MAX_UNIX_TIME + 1}:yes", "oc:1:", "oc:0:vmi", "oc:1:a-b", "oc:1:" + "x" * 13,
    "oc:1:vmi:x", "oc:1:é", "pc:1:maybe", "pc:0:yes", "pc:1:yes:x", "pc::no", "pc:1", "nothing-of-ours", "",
    "ci:1:fine" + " " * 60, None, 5,
])
def test_forged_data_reads_as_no_button(data):
    assert parse_callback(data) is None


def _sources():
    for package in ("bot", "jobs", "messages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != ROOT / "jobs" / "buttons.py":
                yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_no_other_module_names_a_prefix_builds_data_or_reads_it():
    """Prefixes, ``callback_data=`` and the parser belong to jobs/buttons.py; bot/callbacks.py hands the parse on."""
    found = []
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(buttons.PREFIXES):
                found.append(f"{name}:{node.lineno}: prefix {node.value!r}")
            elif isinstance(node, ast.keyword) and node.arg == "callback_data":
                found.append(f"{name}:{node.value.lineno}: callback_data built by hand")
            elif isinstance(node, ast.Name | ast.Attribute) and name != "bot/callbacks.py" \
                    and (node.id if isinstance(node, ast.Name) else node.attr) == "parse_callback":
                found.append(f"{name}:{node.lineno}: reads callback data itself")
            elif isinstance(node, ast.keyword) and node.arg == "pattern":
                found.append(f"{name}:{node.value.lineno}: a callback pattern of its own")
    assert found == []


def test_prefixes_cannot_be_read_as_one_another():
    """Each kind is told by its prefix alone: no prefix begins another."""
    for prefix in buttons.PREFIXES:
        assert [other for other in buttons.PREFIXES if other != prefix and other.startswith(prefix)] == []
