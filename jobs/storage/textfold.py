"""Names folded for search: case and accents away, spaces squeezed ("  María  JOSÉ" -> "maria jose").

One function for both sides of a patient search: the key stored with each patient
(``patient.search_key``, kept by jobs/storage/models.py on every write of the name) and what staff
type. SQL folds neither accents (SQLite; PostgreSQL without ``unaccent``) nor non-ASCII case
(SQLite's LOWER), so the folding is done here, once per write, and the search is plain SQL.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Case and accents folded, spaces squeezed: "  María  JOSÉ" -> "maria jose"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
