"""Right-to-left texts: values isolated, and each line starting in the language's direction.

Telegram shows a message (each paragraph, in most clients) in the direction of its first strong letter.
An Arabic greeting that starts with the patient's Latin-letter name, a date or a number would be laid
out left to right, punctuation and all. So, for a right-to-left locale, :func:`directed` fills a
template with each inserted value wrapped in a first-strong isolate (U+2068 … U+2069: the value keeps
its own direction without turning the sentence around it), and starts each line that does not begin
with a right-to-left letter with a right-to-left mark (U+200F).

Only characters between tags are added, never inside a tag (a value in an attribute, such as
``href="{booking_url}"``, is left as it is) or an entity. A value holding a URL is not isolated either:
Telegram finds a bare link by scanning to the next space, and a closing isolate right after the URL
would become part of it. Left-to-right locales are filled in unchanged, and so is a template with no
right-to-left letter (the English text sent where a locale lacks one).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping

FSI, PDI, RLM = "\u2068", "\u2069", "\u200f"
BIDI_CONTROLS = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Languages written right to left (ISO 639 codes); a clinic's texts/<code>.toml in one of them is
# treated as such too.
RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku-arab", "ps", "sd", "syr", "ug",
                           "ur", "yi"})
_TAG_OR_ENTITY = re.compile(r"<[^>]*>|&#?\w+;")
_URL = re.compile(r"(?i)\b(?:https?://|www\.|t\.me/)")


def is_rtl(locale: str) -> bool:
    """Whether ``locale`` ("ar", "fa-IR") is written right to left."""
    code = locale.replace("_", "-").lower()
    return code in RTL_LANGUAGES or code.split("-")[0] in RTL_LANGUAGES


def directed(locale: str, template: str, values: Mapping[str, str]) -> str:
    """``template`` filled with ``values`` (already escaped for HTML), laid out in ``locale``'s direction.

    A template without a right-to-left letter (the English text sent where a locale lacks one, "📞 {phone}")
    is filled in unchanged.
    """
    if not is_rtl(locale) or not _has_rtl_letters(template):
        return template.format_map(values)
    in_tags = _placeholders_in_tags(template)
    isolated = {name: value if name in in_tags else isolate(value) for name, value in values.items()}
    return mark_lines(template.format_map(isolated))


def isolate(value: str) -> str:
    """Each non-blank line of ``value`` between U+2068 and U+2069 (an isolate ends with its line anyway);
    a value with a URL in it, unchanged."""
    if _URL.search(value):
        return value
    return "\n".join(f"{FSI}{line}{PDI}" if line.strip() else line for line in value.split("\n"))


def mark_lines(text: str) -> str:
    """``text`` with U+200F before each non-blank line that does not start with a right-to-left letter (outside
    tags): one starting with a left-to-right letter, an isolated value, or having no letter at all (digits and
    signs alone would be laid out left to right)."""
    return "\n".join(RLM + line if line.strip() and not _starts_right_to_left(line) else line
                     for line in text.split("\n"))


def first_strong(html_line: str) -> str | None:
    """"R" or "L": the direction of the first strong letter shown (tags and entities skipped, isolated
    values included, as a client that ignores isolates would see it); None when there is none."""
    for char in _TAG_OR_ENTITY.sub("", html_line):
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "R"
        if kind == "L":
            return "L"
    return None


def _starts_right_to_left(html_line: str) -> bool:
    """Whether a right-to-left letter comes before any left-to-right one and any isolate: so the line reads
    right to left both in an app that looks inside isolates for its direction and in one that skips them."""
    for char in _TAG_OR_ENTITY.sub("", html_line):
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind in ("L", "FSI", "LRI", "RLI"):
            return False
    return False


def strip(text: str) -> str:
    """``text`` without direction marks and isolates (for what lays the text out itself, such as the cards)."""
    return "".join(char for char in text if char not in BIDI_CONTROLS)


def _has_rtl_letters(template: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL")
               for literal, *_rest in string.Formatter().parse(template) for char in literal)


def _placeholders_in_tags(template: str) -> set[str]:
    """The placeholders written inside a tag (an attribute's value), where nothing may be added."""
    inside, names = False, set()
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        for char in literal:
            if char == "<":
                inside = True
            elif char == ">":
                inside = False
        if name is not None and inside:
            names.add(name)
    return names
