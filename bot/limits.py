"""Telegram's length limits, counted as Telegram counts them (UTF-16 code units after HTML parsing)."""

from __future__ import annotations

import html
import re

MAX_TEXT = 4096
MAX_CAPTION = 1024
_TAG = re.compile(r"<[^>]*>")


def visible_length(html_text: str) -> int:
    """How long Telegram finds ``html_text`` (tags do not count, an entity counts as its character)."""
    return len(html.unescape(_TAG.sub("", html_text)).encode("utf-16-le")) // 2


def fits(html_text: str, limit: int) -> bool:
    """Whether ``html_text`` is within ``limit`` as Telegram counts."""
    return visible_length(html_text) <= limit
