"""The red-flag vocabulary and its matcher: the grammar, negation, a broken vocabulary named at load,
and a corpus of realistic patient messages per language with its matched and missed figures."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from messages.catalog import DEFAULTS_DIR, load_catalog
from messages.errors import MessageFileError
from messages.red_flags import parse_term, read_vocabulary, red_flags, words_of

CORPUS = Path(__file__).with_name("red_flag_corpus.toml")


@pytest.fixture(scope="module")
def matcher():
    return load_catalog().red_flags


def _vocabulary(**table):
    return red_flags([read_vocabulary(Path("en.toml"), "en", table)])


def test_words_are_folded_stripped_of_accents_and_squeezed():
    assert [w.text for w in words_of("Hinchazón  ¡MUY fuerte! don't, swolllen 38,5")] == [
        "hinchazon", "muy", "fuerte", "dont", "swolen", "38"]
    words = words_of("no, there are blisters. Then")
    assert [(w.clause, w.sentence) for w in words] == [(0, 0), (1, 0), (1, 0), (1, 0), (2, 1)]


def test_the_grammar_whole_words_prefixes_phrases_either_and_both():
    flags = _vocabulary(blisters=["blister*"], pus=["yellow crust*", "pus|oozing"], burning=["burn* & worse"])
    assert flags.flags("a blistering cheek") == ["blisters"]
    assert flags.flags("pustule") == []  # a whole word only
    assert flags.flags("Yellow crusts on my nose") == ["pus"]
    assert flags.flags("yellow, crusty") == []  # a phrase is in one clause
    assert flags.flags("It is oozing") == ["pus"]
    assert flags.flags("Worse today: the burning") == ["burning"]  # both parts, any order, one sentence
    assert flags.flags("Burning. Not worse") == []  # not in the same sentence


def test_a_negation_directly_before_a_term_and_nothing_further_away():
    flags = _vocabulary(negations=["no", "sin", "no tengo"], blisters=["blister*", "ampoll*"], fever=["fiebre"])
    assert flags.flags("no blisters at all, thanks") == []
    assert flags.flags("sin ampollas") == []
    assert flags.flags("No tengo fiebre") == []
    assert flags.flags("No, there are blisters") == ["blisters"]  # the comma ends the negation's clause
    assert flags.flags("no pain but blisters") == ["blisters"]
    assert flags.flags("no real blisters") == ["blisters"]  # not directly before: caution wins
    assert flags.flags("no blisters. Blisters now") == ["blisters"]  # one occurrence is enough


def test_every_language_s_negations_count_against_every_vocabulary(matcher):
    # "pus" is an English term too: "ni" before it is a Spanish negation, read as one.
    assert matcher.flags("Sin fiebre ni pus") == []
    assert matcher.flags("tengo ampollas") == ["blisters"]  # a Spanish word in any patient's message


@pytest.mark.parametrize(("term", "problem"), [
    ("bl*", "needs at least 3 letters"),
    ("burn* &", "an empty part"),
    ("pus||oozing", "an empty alternative"),
    ("pu*s", "with * only at the end of a word"),
])
def test_a_term_that_cannot_be_read_is_refused_with_why(term, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_term("x", term)


@pytest.fixture
def clinic_dir(tmp_path: Path) -> Path:
    target = tmp_path / "messages"
    shutil.copytree(DEFAULTS_DIR, target)
    return target


@pytest.mark.parametrize(("file", "edit", "expected"), [
    ("es", ('blisters = ["ampoll*"', 'blisters = ["bl*"'), r"es.toml: \[red_flags\] blisters: 'bl\*': a word ending"),
    ("en", ('blisters = [', 'blisters = "blister*"\nmore = ['), r"en.toml: \[red_flags\] blisters: must be a list"),
    ("es", ('blisters = ["ampoll*"', 'blisters = [3, "ampoll*"'), r"es.toml: \[red_flags\] blisters: every entry must be a"),
    ("en", ('negations = ["no"', 'negations = ["no & yes"'), r"en.toml: \[red_flags\] negations: 'no & yes': a"),
    ("en", ("[red_flags]", "[red_flags.pain]"), r"en.toml: \[red_flags\] pain: must be a list of words"),
])
def test_a_malformed_vocabulary_is_named_by_file_and_key_at_load(clinic_dir, file, edit, expected):
    path = clinic_dir / "texts" / f"{file}.toml"
    text = path.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(MessageFileError, match=expected):
        load_catalog(clinic_dir)


def test_an_empty_vocabulary_is_refused(clinic_dir):
    path = clinic_dir / "texts" / "en.toml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("[red_flags]"), text.index("# ----", text.index("[red_flags]"))
    path.write_text(text[:start] + "[red_flags]\nnegations = [\"no\"]\n\n" + text[end:], encoding="utf-8")
    with pytest.raises(MessageFileError, match=r"en.toml: \[red_flags\]: lists no red flags"):
        load_catalog(clinic_dir)


def test_a_clinic_file_without_a_vocabulary_uses_the_shipped_one_and_says_so(clinic_dir):
    path = clinic_dir / "texts" / "es.toml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("[red_flags]"), text.index("# ----", text.index("[red_flags]"))
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    catalog = load_catalog(clinic_dir)
    assert catalog.red_flags_shipped == ("es",)
    assert catalog.red_flags.flags("me han salido ampollas") == ["blisters"]
    assert load_catalog().red_flags_shipped == ()


def test_a_language_the_clinic_adds_without_a_vocabulary_is_listed_as_lacking_one(clinic_dir):
    spanish = (clinic_dir / "texts" / "es.toml").read_text(encoding="utf-8")
    start = spanish.index("[red_flags]")
    # Catalan, begun from the Spanish file: the same plural forms (one, many, other).
    (clinic_dir / "texts" / "ca.toml").write_text(spanish[:start] + spanish[spanish.index("# ----", start):],
                                                   encoding="utf-8")
    catalog = load_catalog(clinic_dir)
    assert catalog.missing_by_locale() == {"ca": ["[red_flags] vocabulary"]}
    assert catalog.red_flags.flags("ampollas") == ["blisters"]  # the other languages still read its words


def _corpus():
    return tomllib.loads(CORPUS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_corpus_matches_as_labelled_or_as_its_known_misses_say(matcher, locale):
    rows = _corpus()[locale]
    worried = [row for row in rows if row["worried"]]
    assert len(rows) >= 60 and len(worried) >= 25 and len(rows) - len(worried) >= 25
    wrong = []
    for row in rows:
        flagged = bool(matcher.flags(row["text"]))
        expected = row["worried"] if "known" not in row else not row["worried"]
        assert row.get("known") in (None, "miss" if row["worried"] else "false alarm"), row
        if flagged != expected:
            wrong.append((row["text"], row.get("known"), matcher.flags(row["text"])))
    assert wrong == [], "judged otherwise than labelled (fix the vocabulary, or mark the row and the figures)"


def test_the_figures_in_the_docs_are_the_corpus_s(matcher):
    page = (Path(__file__).resolve().parents[2] / "docs" / "patients.md").read_text(encoding="utf-8")
    for locale, rows in _corpus().items():
        worried = [row for row in rows if row["worried"]]
        fine = [row for row in rows if not row["worried"]]
        matched = sum(bool(matcher.flags(row["text"])) for row in worried)
        alarms = sum(bool(matcher.flags(row["text"])) for row in fine)
        line = (f"| {locale} | {len(rows)} | {matched} of {len(worried)} | {len(worried) - matched} "
                f"| {alarms} of {len(fine)} |")
        assert line in page, line
