"""The catalog: every protocol and every text of every locale, loaded and validated at start.

Texts live in ``texts/<locale>.toml`` with three tables: ``[steps]`` (what protocol steps send),
``[titles]`` (each step's short name, as staff see it in a timeline) and ``[bot]`` (the bot's own
replies). English (``en``) is the reference: another locale may use only the placeholders the
English text uses, and a text it lacks is sent in English (listed in :attr:`Catalog.missing`, which
start-up and ``aftercare check`` report), so a clinic adding a language is not all or nothing. A
clinic's own folder is checked against the texts shipped with the package, so that an upgrade that
needs a new text says so at start instead of failing in front of a patient.

Rendering escapes every value for Telegram's HTML parse mode; the texts themselves may use
``<b>`` and ``<i>``.

A texts file also carries the language's red-flag vocabulary (``[red_flags]``, messages/red_flags.py),
checked here too; a clinic's file without one uses the vocabulary shipped for that language.

What a language decides by rule is left to Babel (CLDR): dates with month names in the right case
(``вс, 6 декабря``), relative times ("in 3 days", ``через 3 дня``), durations, numbers, and which
plural form a count takes. A text that speaks of a count is written once per plural category of its
language, as dotted keys (``cancel_done.one = …``, ``cancel_done.other = …``); the number that picks
the form is ``{count}``, or the placeholder that the table's ``count`` key names. Loading refuses a
texts file whose forms are not exactly its language's categories.
"""

from __future__ import annotations

import html
import re
import string
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time, format_timedelta, get_datetime_format
from babel.numbers import format_decimal, format_percent

from messages.errors import MessageFileError
from messages.files import read_toml
from messages.protocol import Protocol, load_protocol
from messages.red_flags import SECTION as RED_FLAGS
from messages.red_flags import RedFlags, Vocabulary, read_vocabulary, red_flags

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
REFERENCE_LOCALE = "en"
SECTIONS = ("steps", "titles", "bot")
# A template line holding nothing but one placeholder: dropped when that value is empty.
_LONE_PLACEHOLDER = re.compile(r"^\s*\{(\w+)\}\s*$")

# What a step text may use; the dispatcher supplies every one of them.
STEP_PLACEHOLDERS = frozenset(
    {
        "name",
        "clinic_name",
        "clinic_phone",
        "booking_url",
        "booking_line",
        "session_number",
        "series_length",
        "sessions_left",
        "next_window_start",
        "next_window_end",
    }
)


# CLDR's plural categories, in CLDR's order, and the key of a plural text naming the number that picks one.
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
PLURAL_COUNT_KEY = "count"
# Babel's locale for a texts file's code where CLDR's own default is not what a clinic expects: plain
# "en" is American English in CLDR ("Sun, Dec 6"); "en_001", world English, writes "Sun 6 December".
# A clinic that wants another English names its file so (en_US.toml, en_GB.toml).
BABEL_LOCALES = {"en": "en_001"}


class Raw(str):
    """A value that is already safe HTML (a link we built), so rendering does not escape it."""


class Plural(str):
    """A text written once per plural category; as a plain string it is its ``other`` form.

    Being a string, it goes wherever a text goes (listing, previews, placeholder checks see the
    ``other`` form); :meth:`Catalog.render` picks the form that the number in ``by`` calls for.
    """

    forms: dict[str, str]
    by: str

    def __new__(cls, forms: dict[str, str], by: str = PLURAL_COUNT_KEY) -> Plural:
        text = super().__new__(cls, forms["other"])
        text.forms, text.by = dict(forms), by
        return text

    def __reduce__(self) -> tuple[type[Plural], tuple[dict[str, str], str]]:
        # A copy (or a pickle) keeps every form, not only the string value a str would hand on.
        return Plural, (self.forms, self.by)

    def form(self, locale: str, number: object) -> str:
        """The form ``number`` takes in ``locale`` (``other`` for a value that is not a number)."""
        if isinstance(number, bool) or not isinstance(number, int | float):
            return self.forms["other"]
        return self.forms.get(babel_locale(locale).plural_form(number), self.forms["other"])


@lru_cache(maxsize=64)
def babel_locale(code: str) -> Locale:
    """Babel's locale for a texts file's code ("pt", "pt-BR", "en"); UnknownLocaleError if CLDR has none."""
    code = code.replace("-", "_")
    return Locale.parse(BABEL_LOCALES.get(code, code))


def plural_categories(code: str) -> tuple[str, ...]:
    """The plural categories CLDR gives the language, in CLDR's order: ``("one", "few", "many", "other")``."""
    tags = babel_locale(code).plural_form.tags | {"other"}
    return tuple(category for category in PLURAL_CATEGORIES if category in tags)


@dataclass(frozen=True)
class Catalog:
    """Protocols by name and texts by locale, section and key."""

    directory: Path
    protocols: dict[str, Protocol]
    texts: dict[str, dict[str, dict[str, str]]]
    default_protocol: str = "microneedling"
    placeholders: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # Texts a locale lacks (locale, section, key): English is used for each.
    missing: tuple[tuple[str, str, str], ...] = ()
    # Every language's red-flag vocabulary, read against each patient message.
    red_flags: RedFlags = field(default_factory=lambda: RedFlags(()))
    # Locales whose file has no [red_flags] table: the vocabulary shipped for them is used.
    red_flags_shipped: tuple[str, ...] = ()

    def missing_by_locale(self) -> dict[str, list[str]]:
        """``{"de": ["[bot] help_patient", …]}``: what each locale lacks."""
        found: dict[str, list[str]] = {}
        for locale, section, key in self.missing:
            found.setdefault(locale, []).append(f"[{section}] {key}")
        return found

    def step_title(self, locale: str, key: str) -> str:
        """A step's short name for staff ("Sun care"), in ``locale``, else English, else the key itself.

        A key with a suffix after ":" ("appointment:12", one per booking) takes the title of its prefix.
        """
        for name in dict.fromkeys((key, key.partition(":")[0])):
            for code in (locale, REFERENCE_LOCALE):
                title = self.texts.get(code, {}).get("titles", {}).get(name)
                if title:
                    return title
        return key

    @property
    def locales(self) -> tuple[str, ...]:
        """Locale codes with texts, the reference first."""
        return tuple(sorted(self.texts, key=lambda code: (code != REFERENCE_LOCALE, code)))

    def resolve_locale(self, code: str | None) -> str:
        """The locale to use for a Telegram language code such as "es-ES"; English if none fits."""
        if code:
            code = code.replace("_", "-").lower()
            for candidate in (code, code.split("-")[0]):
                if candidate in self.texts:
                    return candidate
        return REFERENCE_LOCALE

    def protocol(self, name: str | None = None) -> Protocol:
        """The protocol called ``name`` (the default one when None); KeyError if unknown."""
        return self.protocols[name or self.default_protocol]

    def protocol_for(self, name: str | None) -> Protocol:
        """The protocol a cycle was planned from, by its recorded name; the default if that file is gone."""
        return self.protocols.get(name or "") or self.protocol()

    def render(self, locale: str, section: str, key: str, /, **values: object) -> str:
        """The text ``section.key`` in ``locale`` with values filled in and escaped for HTML."""
        locale = self.text_locale(locale)
        template = self.texts[locale][section].get(key)
        if template is None:
            locale, template = REFERENCE_LOCALE, self.texts[REFERENCE_LOCALE][section][key]
        if isinstance(template, Plural):
            by = template.by
            number = values.get(by)
            template = template.form(locale, number)
            if isinstance(number, int | float) and not isinstance(number, bool):
                values = {**values, by: self.format_number(locale, number)}
        safe = {name: value if isinstance(value, Raw) else html.escape(str(value), quote=False)
                for name, value in values.items()}
        # An optional value left empty (no booking link) takes its line with it, not leaving a blank one.
        lines = [line for line in template.split("\n")
                 if not ((lone := _LONE_PLACEHOLDER.match(line)) and safe.get(lone.group(1)) == "")]
        return "\n".join(lines).format_map(safe)

    def bot(self, locale: str, key: str, /, **values: object) -> str:
        """Shorthand for a ``[bot]`` text."""
        return self.render(locale, "bot", key, **values)

    def text_locale(self, locale: str) -> str:
        """``locale`` if it has texts, else English (what is written and formatted for it)."""
        return locale if locale in self.texts else REFERENCE_LOCALE

    def format_date(self, locale: str, moment: datetime, *, with_time: bool = False, with_year: bool = False) -> str:
        """The weekday, day and month as the locale writes them, from CLDR: "Tue 22 December" (en),
        "вт, 22 декабря" (ru, the month in the genitive), with the year and a 24-hour time when asked.

        ``moment`` is shown as it is: convert it to the reader's zone first.
        """
        where = babel_locale(self.text_locale(locale))
        text = format_skeleton("yMMMMEd" if with_year else "MMMMEd", moment, locale=where)
        if not with_time:
            return text
        # Always 24-hour: clinic times are typed and read that way, and "10:00" cannot be misread.
        clock = format_time(moment, "HH:mm", locale=where)
        return str(get_datetime_format("medium", locale=where)).replace("{1}", text).replace("{0}", clock)

    def format_relative(self, locale: str, delta: timedelta) -> str:
        """A time from now in words: "in 3 days", "через 3 дня", "5 minutes ago" (negative ``delta``)."""
        return format_timedelta(delta, add_direction=True, threshold=1.5,
                                locale=babel_locale(self.text_locale(locale)))

    def format_duration(self, locale: str, delta: timedelta) -> str:
        """A span in the locale's short units, to the minute and at most two of them: "3 hr 20 min", "2 дн. 4 ч"."""
        minutes = max(0, int(delta.total_seconds() // 60))
        parts = [(timedelta(days=minutes // 1440), "day"), (timedelta(hours=minutes // 60 % 24), "hour"),
                 (timedelta(minutes=minutes % 60), "minute")]
        first = next((index for index, (amount, _unit) in enumerate(parts) if amount), 2)
        where = babel_locale(self.text_locale(locale))
        # A threshold this high keeps each part in its own unit (Babel would round 90 minutes up to 2 hours).
        return " ".join(format_timedelta(amount, granularity=unit, threshold=10**6, format="short", locale=where)
                        for index, (amount, unit) in enumerate(parts[first:first + 2]) if amount or not index)

    def format_span(self, locale: str, delta: timedelta, unit: Literal["day", "hour", "minute"]) -> str:
        """A length of time in words, counted in ``unit``: "7 days", "7 дней", "8 ساعات" (how long a link lasts)."""
        return format_timedelta(delta, granularity=unit, threshold=10**6, format="long",
                                locale=babel_locale(self.text_locale(locale)))

    def format_number(self, locale: str, number: int | float) -> str:
        """A count as the locale writes it: 1,234 (en), 1 234 (ru), 1.234 (es)."""
        return format_decimal(number, locale=babel_locale(self.text_locale(locale)))

    def format_percent(self, locale: str, fraction: float) -> str:
        """A share as the locale writes it, to the whole percent: 45% (en), 45 % (es), %45 (tr)."""
        return format_percent(fraction, locale=babel_locale(self.text_locale(locale)))


def placeholders_of(template: str) -> set[str]:
    """The placeholder names a text uses; ValueError for braces str.format cannot read."""
    names: set[str] = set()
    for _literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a plain name such as {{name}}")
        names.add(name)
    return names


# The tags Telegram's HTML parse mode accepts; anything else makes Telegram refuse the message.
TELEGRAM_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
                           "a", "tg-emoji", "code", "pre", "blockquote"})


class _TagChecker(HTMLParser):
    """Finds what Telegram would reject: unknown tags, and tags left open or closed twice."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problem = self.problem or f"<{tag}> is not a tag Telegram accepts (use <b>, <i>, <u>, <code>, <a>…)"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f"</{tag}> does not close the tag opened before it"
        else:
            self.open.pop()


def html_to_plain(text: str) -> str:
    """A rendered text without its HTML tags and entities (for places Telegram shows plain text)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def html_problem(template: str) -> str | None:
    """Why Telegram would refuse ``template`` as HTML, or None."""
    checker = _TagChecker()
    checker.feed(template)
    checker.close()
    if checker.problem:
        return checker.problem
    if checker.open:
        return f"<{checker.open[-1]}> is never closed"
    return None


def load_catalog(directory: Path | str | None = None, *, default_protocol: str | None = "microneedling") -> Catalog:
    """Load and validate protocols and texts from ``directory`` (the shipped defaults when None).

    ``default_protocol`` must exist when given; None checks nothing (the caller chooses later).
    """
    directory = Path(directory) if directory else DEFAULTS_DIR
    if not directory.is_dir():
        raise MessageFileError(directory, "", "folder not found")
    protocols = _load_protocols(directory / "protocols")
    texts = _load_texts(directory / "texts")
    vocabularies, shipped, no_vocabulary = _load_red_flags(directory / "texts", texts)
    if default_protocol is None:
        default_protocol = "microneedling" if "microneedling" in protocols else sorted(protocols)[0]
    elif default_protocol not in protocols:
        raise MessageFileError(
            directory / "protocols", "", f"default protocol {default_protocol!r} not found "
            f"(have: {', '.join(sorted(protocols))})"
        )
    reference_bot = _reference_bot_placeholders(directory)
    placeholders, missing = _validate(directory, protocols, texts, reference_bot)
    return Catalog(directory, protocols, texts, default_protocol, placeholders, tuple(missing + no_vocabulary),
                   red_flags(vocabularies), shipped)


def _load_protocols(folder: Path) -> dict[str, Protocol]:
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not files:
        raise MessageFileError(folder, "", "no protocol files (*.toml) found")
    return {protocol.name: protocol for protocol in map(load_protocol, files)}


def _load_texts(folder: Path) -> dict[str, dict[str, dict[str, str]]]:
    texts: dict[str, dict[str, dict[str, str]]] = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        data, _raw = read_toml(path)
        try:
            categories = plural_categories(path.stem)
        except (UnknownLocaleError, ValueError):
            raise MessageFileError(path, "", f"{path.stem!r} is not a language code CLDR knows: name the file "
                                   "by the language's code, such as de.toml or pt_BR.toml") from None
        tables: dict[str, dict[str, str]] = {}
        for section in SECTIONS:
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise MessageFileError(path, f"[{section}]", "must be a table of texts")
            tables[section] = {key: _read_text(path, f"[{section}] {key}", value, categories)
                               for key, value in table.items()}
        texts[path.stem] = tables
    if REFERENCE_LOCALE not in texts:
        raise MessageFileError(folder / f"{REFERENCE_LOCALE}.toml", "", "missing: English texts are the reference")
    return texts


def _read_text(path: Path, where: str, value: object, categories: tuple[str, ...]) -> str:
    """One text: a non-empty string, or a table with one form per plural category of the file's language."""
    if isinstance(value, str) and value.strip():
        return value
    if not isinstance(value, dict):
        raise MessageFileError(path, where, "must be a non-empty string, or one per plural form "
                               f"({', '.join(f'{where.split()[-1]}.{c}' for c in categories)})")
    language = babel_locale(path.stem).english_name or path.stem
    by = value.get(PLURAL_COUNT_KEY, PLURAL_COUNT_KEY)
    if not isinstance(by, str) or not by.isidentifier():
        raise MessageFileError(path, where, f"{PLURAL_COUNT_KEY} names the placeholder whose number picks the "
                               "form, such as count = \"days\"")
    forms = {key: form for key, form in value.items() if key != PLURAL_COUNT_KEY}
    for key in forms:
        if key not in categories:
            raise MessageFileError(path, where, f"{key!r} is not a plural form of {language} "
                                   f"(its forms are {', '.join(categories)})")
    for category in categories:
        if category not in forms:
            raise MessageFileError(path, where, f"plural form {category!r} is missing ({language} needs "
                                   f"{', '.join(categories)})")
        if not isinstance(forms[category], str) or not forms[category].strip():
            raise MessageFileError(path, f"{where}.{category}", "must be a non-empty string")
    return Plural(forms, by)


def text_placeholders(text: str) -> set[str]:
    """The placeholders of a text, over all its plural forms, with the one that picks the form."""
    if isinstance(text, Plural):
        return {text.by}.union(*map(placeholders_of, text.forms.values()))
    return placeholders_of(text)


def text_forms(text: str) -> tuple[str, ...]:
    """Every form of a text: its plural forms, or the text itself."""
    return tuple(text.forms.values()) if isinstance(text, Plural) else (text,)


def _load_red_flags(folder: Path, texts: dict) -> tuple[list[Vocabulary], tuple[str, ...], list[tuple[str, str, str]]]:
    """Each locale's red-flag vocabulary; the locales that lacked one and use the shipped one instead (a clinic's
    older texts folder never silently stops reading patients' words); and those with none at all (a language
    the clinic added: its patients' words are read with the other languages' vocabularies)."""
    vocabularies: list[Vocabulary] = []
    shipped: list[str] = []
    missing: list[tuple[str, str, str]] = []
    for locale in sorted(texts, key=lambda code: (code != REFERENCE_LOCALE, code)):
        path = folder / f"{locale}.toml"
        data, _raw = read_toml(path)
        if RED_FLAGS in data:
            vocabularies.append(read_vocabulary(path, locale, data[RED_FLAGS]))
            continue
        default = DEFAULTS_DIR / "texts" / f"{locale}.toml"
        table = read_toml(default)[0].get(RED_FLAGS) if default.is_file() and default.resolve() != path.resolve() \
            else None
        if table is not None:
            vocabularies.append(read_vocabulary(default, locale, table))
            shipped.append(locale)
        else:
            missing.append((locale, RED_FLAGS, "vocabulary"))
    return vocabularies, tuple(shipped), missing


def _reference_bot_placeholders(directory: Path) -> dict[str, set[str]]:
    """The bot texts the code needs, with the placeholders it supplies: those of the shipped English file."""
    if directory.resolve() == DEFAULTS_DIR:
        path = directory / "texts" / f"{REFERENCE_LOCALE}.toml"
    else:
        path = DEFAULTS_DIR / "texts" / f"{REFERENCE_LOCALE}.toml"
    shipped = tomllib.loads(path.read_text(encoding="utf-8")).get("bot", {})
    categories = plural_categories(REFERENCE_LOCALE)
    return {key: text_placeholders(_read_text(path, f"[bot] {key}", value, categories))
            for key, value in shipped.items()}


def _validate(directory, protocols, texts, reference_bot):
    """The placeholders each English text uses, and the texts other locales lack; raise for what cannot work."""
    folder = directory / "texts"
    found: dict[tuple[str, str], frozenset[str]] = {}
    missing: list[tuple[str, str, str]] = []

    def check(locale: str, section: str, key: str, allowed: set[str] | frozenset[str], why: str) -> None:
        path = folder / f"{locale}.toml"
        template = texts[locale][section].get(key)
        if template is None and locale != REFERENCE_LOCALE:
            if (locale, section, key) not in missing:
                missing.append((locale, section, key))
            return
        if template is None:
            raise MessageFileError(path, f"[{section}] {key}", f"missing text ({why})")
        try:
            used = text_placeholders(template)
        except ValueError as exc:
            raise MessageFileError(path, f"[{section}] {key}", str(exc)) from None
        extra = sorted(used - set(allowed))
        if extra:
            listed = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
            if locale == REFERENCE_LOCALE:
                problem = f"unknown placeholder {{{extra[0]}}} (allowed: {listed})"
            else:
                problem = f"uses {{{extra[0]}}}, which the English text does not (English uses: {listed})"
            raise MessageFileError(path, f"[{section}] {key}", problem)
        tag_problem = next(filter(None, map(html_problem, text_forms(template))), None)
        if tag_problem:
            raise MessageFileError(path, f"[{section}] {key}", tag_problem)
        if locale == REFERENCE_LOCALE:
            found[(section, key)] = frozenset(used)

    for protocol in protocols.values():
        for step in protocol.steps:
            why = f"used by step {step.key!r} of protocol {protocol.name!r}"
            check(REFERENCE_LOCALE, "steps", step.text_key, STEP_PLACEHOLDERS, why)
            for locale in texts:
                check(locale, "steps", step.text_key, found[("steps", step.text_key)], why)
            # A step without a title shows its key in staff timelines: worth a warning, not a refusal.
            for locale in texts:
                if step.key in texts[locale]["titles"]:
                    check(locale, "titles", step.key, frozenset(), why)
                elif (locale, "titles", step.key) not in missing:
                    missing.append((locale, "titles", step.key))
    for key, allowed in reference_bot.items():
        check(REFERENCE_LOCALE, "bot", key, allowed, "a reply the bot needs")
        for locale in texts:
            check(locale, "bot", key, found[("bot", key)], "a reply the bot needs")
    return found, missing
