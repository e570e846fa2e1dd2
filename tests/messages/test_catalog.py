"""Message and protocol files: every shipped text renders, and broken files fail with a named error."""

import shutil
from pathlib import Path

import pytest

from messages.catalog import DEFAULTS_DIR, STEP_PLACEHOLDERS, Raw, load_catalog
from messages.errors import MessageFileError


@pytest.fixture
def clinic_dir(tmp_path: Path) -> Path:
    """A clinic's own copy of the shipped files, to break in each test."""
    target = tmp_path / "messages"
    shutil.copytree(DEFAULTS_DIR, target)
    return target


def test_every_step_text_of_every_protocol_renders_in_every_locale():
    catalog = load_catalog()
    values = {name: f"<{name}>" for name in STEP_PLACEHOLDERS}
    for protocol in catalog.protocols.values():
        for step in protocol.steps:
            for locale in catalog.locales:
                text = catalog.render(locale, "steps", step.text_key, **values)
                assert "{" not in text and "}" not in text, (protocol.name, step.key)
                assert "<name>" not in text  # values are escaped for HTML
                assert len(text) < 4096  # Telegram's limit for one message


def test_values_are_escaped_but_raw_values_are_not():
    catalog = load_catalog()
    text = catalog.bot("en", "start_already", name="<b>Eve & co</b>")
    assert "&lt;b&gt;Eve &amp; co&lt;/b&gt;" in text
    assert "<a href='x'>" in catalog.bot("en", "booking_line", url=Raw("<a href='x'>"))


def test_the_shipped_protocols_record_a_content_hash_version(clinic_dir):
    before = load_catalog(clinic_dir).protocol("microneedling").version
    path = clinic_dir / "protocols" / "microneedling.toml"
    path.write_text(path.read_text().replace('expires = "2d"', 'expires = "3d"', 1))
    after = load_catalog(clinic_dir).protocol("microneedling").version
    assert before != after and len(after) == 12


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('at = "day 1 at 09:00"', 'at = "1x"'), r"microneedling.toml: step 'sun_care': 'at': bad offset '1x'"),
        (('at = "day 1 at 09:00"', 'at = "day 1 at 25:00"'), r"step 'sun_care': 'at': bad time of day"),
        (('expires = "12h"', 'expires = "soon"'), r"step 'sun_care': 'expires': bad offset"),
        (('when = "sessions_remain"', 'when = "sometimes"'), r"step 'rebook_open': 'when': 'sometimes' is not one of"),
        (('kind = "checkin"', 'kind = "poll"'), r"'kind': 'poll' is not one of"),
        (('name = "microneedling"', 'name = "other"'), r"microneedling.toml: name: 'other' must equal the file name"),
        (('key = "sun_care"', 'key = "expect"'), r"step 'expect': key used twice"),
        (('key = "sun_care"', 'key = "sun_care"\ncolour = "red"'), r"step 'sun_care': 'colour': unknown key"),
        (('at = "0m"', 'at = "0m"\nnot_before = "2h"'), r"step 'expect': 'not_before': only goes with"),
        (('[[steps]]', '[[steps'), r"microneedling.toml: not valid TOML"),
        # Silence noticed: offsets, their order, and only on steps that wait for an answer.
        (('nudge_after = "4h"', 'nudge_after = "soon"'),
         r"microneedling.toml: step 'settling_check': 'nudge_after': bad offset 'soon'"),
        (('alert_after = "24h"', 'alert_after = "0h"'), r"step 'settling_check': 'alert_after': '0h' must be longer"),
        (('nudge_after = "4h"', 'nudge_after = "1d"'),
         r"step 'settling_check': 'nudge_after': '1d' must be shorter than alert_after \('24h'\)"),
        (('nudge_after = "4h"', 'nudge_after = "24h"'), r"step 'settling_check': 'nudge_after': '24h' must be shorter"),
        (('kind = "info"', 'kind = "info"\nalert_after = "1d"'),
         r"step 'expect': 'alert_after': only a step of kind checkin or photo waits for an answer"),
        (('kind = "photo"', 'kind = "picture"'), r"step 'photo_day3': 'kind': 'picture' is not one of"),
        # A photo to compare before and after: an outcome step's option, true or false.
        (('kind = "outcome"\nphoto = true', 'kind = "outcome"\nphoto = "yes"'), r"step 'outcome_day90': 'photo': must be true or false"),
        (('kind = "info"', 'kind = "info"\nphoto = true'),
         r"step 'expect': 'photo': only a step of kind 'outcome' asks for a photo to compare before and after"),
    ],
)
def test_a_broken_protocol_file_names_the_file_step_and_key(clinic_dir, edit, expected):
    path = clinic_dir / "protocols" / "microneedling.toml"
    old, new = edit
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(MessageFileError, match=expected):
        load_catalog(clinic_dir)


def test_an_unknown_placeholder_in_a_step_text_is_named(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    path.write_text(path.read_text().replace("doing, {name}", "doing, {first_name}", 1))
    with pytest.raises(MessageFileError, match=r"en.toml: \[steps\] evening_checkin: unknown placeholder \{first_name\}"):
        load_catalog(clinic_dir)


def test_a_missing_step_text_is_named_with_the_step_that_needs_it(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    text = path.read_text()
    start = text.index("sun_care = ")
    end = text.index('"""', text.index('"""', start) + 3) + 3
    path.write_text(text[:start] + text[end:])
    with pytest.raises(MessageFileError, match=r"\[steps\] sun_care: missing text \(used by step 'sun_care'"):
        load_catalog(clinic_dir)


def test_a_photo_step_without_its_text_is_named(clinic_dir):
    path = clinic_dir / "protocols" / "microneedling.toml"
    path.write_text(path.read_text().replace('text = "photo_checkin"', 'text = "photo_request"'))
    with pytest.raises(MessageFileError, match=r"en.toml: \[steps\] photo_request: missing text \(used by step "
                                               r"'photo_day3' of protocol 'microneedling'\)"):
        load_catalog(clinic_dir)


def test_the_shipped_protocol_asks_for_a_comparison_photo_three_months_after_the_series():
    protocol = load_catalog().protocol("microneedling")
    assert [step.key for step in protocol.steps if step.photo] == ["outcome_day90"]
    assert protocol.step("outcome_day90").kind == "outcome" and not protocol.step("outcome_day30").photo


def test_follow_up_offsets_are_read_from_the_step():
    step = load_catalog().protocol("microneedling").step("settling_check")
    assert (step.nudge_after_spec, step.alert_after_spec) == ("4h", "24h")
    assert step.nudge_after.total_seconds() == 4 * 3600 and step.alert_after.days == 1


def test_a_missing_bot_text_in_a_clinic_folder_is_named(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    path.write_text(path.read_text().replace('start_used = """', 'start_unused = """'))
    with pytest.raises(MessageFileError, match=r"\[bot\] start_used: missing text"):
        load_catalog(clinic_dir)


def test_a_bot_text_may_not_invent_placeholders(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    path.write_text(path.read_text().replace('start_expired = """\n', 'start_expired = """\n{name}, ', 1))
    with pytest.raises(MessageFileError, match=r"\[bot\] start_expired: unknown placeholder \{name\}"):
        load_catalog(clinic_dir)


def test_a_locale_uses_only_the_placeholders_of_english(clinic_dir):
    english = (clinic_dir / "texts" / "en.toml").read_text()
    (clinic_dir / "texts" / "de.toml").write_text(english.replace("{clinic_name}", "{clinic_phone}"))
    with pytest.raises(MessageFileError, match=r"de.toml: \[\w+\] \w+: uses \{clinic_phone\}, which the English text does not"):
        load_catalog(clinic_dir)


def test_a_texts_file_named_for_no_language_is_refused(clinic_dir):
    english = (clinic_dir / "texts" / "en.toml").read_text()
    (clinic_dir / "texts" / "xx.toml").write_text(english)
    with pytest.raises(MessageFileError, match=r"xx.toml: 'xx' is not a language code CLDR knows"):
        load_catalog(clinic_dir)


def test_stray_braces_are_reported(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    path.write_text(path.read_text().replace("doing, {name}", "doing, {name", 1))
    with pytest.raises(MessageFileError, match=r"en.toml: \[steps\] evening_checkin: "):
        load_catalog(clinic_dir)


def test_missing_folder_and_missing_default_protocol(tmp_path, clinic_dir):
    with pytest.raises(MessageFileError, match="folder not found"):
        load_catalog(tmp_path / "nope")
    with pytest.raises(MessageFileError, match="default protocol 'laser' not found"):
        load_catalog(clinic_dir, default_protocol="laser")


def test_locale_resolution_falls_back_to_english():
    catalog = load_catalog()
    assert catalog.resolve_locale("en-GB") == "en"
    assert catalog.resolve_locale("zz") == "en"
    assert catalog.resolve_locale(None) == "en"


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("<b>For a while", r"<b> is never closed"),
        ("For<br>a while", r"<br> is not a tag Telegram accepts"),
        ("<script>x</script>For a while", r"<script> is not a tag Telegram accepts"),
        ("<b><i>For</b></i> a while", r"</b> does not close the tag opened before it"),
    ],
)
def test_html_that_telegram_would_refuse_is_caught_at_start(clinic_dir, broken, expected):
    path = clinic_dir / "texts" / "en.toml"
    text = path.read_text()
    assert "For a while" in text
    path.write_text(text.replace("For a while", broken, 1))
    with pytest.raises(MessageFileError, match=r"en.toml: \[steps\] sun_care: " + expected):
        load_catalog(clinic_dir)


def _drop_text(path: Path, section_key: str) -> None:
    """Remove one ``key = ...`` entry (one line, or a triple-quoted block) from a texts file."""
    text = path.read_text()
    start = text.index(f"\n{section_key} = ") + 1
    if text[start:].split("=", 1)[1].lstrip().startswith('"""'):
        end = text.index('"""', text.index('"""', start) + 3) + 3
    else:
        end = text.index("\n", start)
    path.write_text(text[:start] + text[end:])


def test_a_locale_lacking_texts_falls_back_to_english_and_lists_them(clinic_dir):
    spanish = clinic_dir / "texts" / "es.toml"
    _drop_text(spanish, "sun_care")
    _drop_text(spanish, "help_patient")
    catalog = load_catalog(clinic_dir)
    assert catalog.missing_by_locale() == {"es": ["[steps] sun_care", "[bot] help_patient"]}
    assert catalog.render("es", "steps", "sun_care", clinic_name="X").startswith("For a while after microneedling")
    assert catalog.bot("es", "help_patient", clinic_name="X", clinic_phone="1", booking_line="").startswith("I'm the")
    assert catalog.bot("es", "language_name") == "Español"
    from datetime import datetime
    assert catalog.format_date("es", datetime(2026, 11, 24)) == "mar, 24 de noviembre"  # dates need no text
    assert catalog.format_date("de", datetime(2026, 11, 24)) == "Tue 24 November"  # no texts: English


def test_the_shipped_texts_lack_nothing():
    assert load_catalog().missing == ()


def test_a_step_without_a_title_shows_its_key_and_is_listed(clinic_dir):
    _drop_text(clinic_dir / "texts" / "es.toml", "sun_care")  # the [steps] text
    english = clinic_dir / "texts" / "en.toml"
    english.write_text(english.read_text().replace('sun_care = "Sun care"\n', ""))
    catalog = load_catalog(clinic_dir)
    assert ("en", "titles", "sun_care") in catalog.missing
    assert catalog.step_title("es", "sun_care") == "Cuidado del sol"
    assert catalog.step_title("en", "sun_care") == "sun_care"
    assert catalog.step_title("de", "expect") == "What to expect"


def test_a_line_holding_only_an_empty_placeholder_is_dropped():
    catalog = load_catalog()
    text = catalog.bot("en", "help_patient", clinic_name="X", clinic_phone="1", booking_line="")
    assert "\n\n" not in text and "Call 1.\n<b>Your commands</b>" in text
    with_link = catalog.bot("en", "help_patient", clinic_name="X", clinic_phone="1", booking_line="Book: u")
    assert "Call 1.\nBook: u\n<b>Your commands</b>" in with_link
