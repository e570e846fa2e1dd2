"""Who reviewed a language's texts: ``reviewed_by`` at the top of ``texts/<code>.toml``.

The shipped translations start with ``reviewed_by = ""``: written as a careful medical translator would,
not yet read by a clinician fluent in the language. ``aftercare check`` (and ``run``, in its log) warns
once per language in use until the clinic fills the name in. A file without the key (English, Spanish,
a language the clinic wrote itself) makes no claim either way and is not warned about.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from messages.files import read_toml

KEY = "reviewed_by"


def unreviewed(texts_dir: Path, locales: Iterable[str]) -> list[str]:
    """Those of ``locales`` whose texts file says ``reviewed_by = ""`` (or holds no name there), sorted."""
    found = []
    for locale in sorted(set(locales)):
        path = texts_dir / f"{locale}.toml"
        if not path.is_file():
            continue
        data, _raw = read_toml(path)
        if KEY in data and not (isinstance(data[KEY], str) and data[KEY].strip()):
            found.append(locale)
    return found
