"""Reading one of the clinic's TOML files, with one clear error for whatever is wrong with it.

A path that is a folder, an unreadable file, bytes that are not UTF-8, broken TOML, or TOML nested
so deeply that the parser runs out of stack: each becomes a :class:`MessageFileError` naming the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from messages.errors import MessageFileError


def read_toml(path: Path) -> tuple[dict, bytes]:
    """The parsed contents of ``path`` and its raw bytes (protocol versions hash them)."""
    if path.is_dir():
        raise MessageFileError(path, "", "is a folder, not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MessageFileError(path, "", f"cannot read it: {exc.strerror or type(exc).__name__}") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MessageFileError(path, "", f"not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and tables recursively; thousands of levels exhaust the stack.
        raise MessageFileError(path, "", "not valid TOML: nested too deeply") from None
