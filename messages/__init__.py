"""Content: aftercare protocols and message texts, loaded from plain files and validated.

This package imports nothing else of Aftercare's. The files a clinic edits live in
``messages/defaults/`` (shipped inside the installed package) or in the folder that the
``MESSAGES_DIR`` setting names, with the same layout: ``protocols/*.toml`` and ``texts/<locale>.toml``.
"""

from messages.catalog import Catalog, load_catalog
from messages.errors import MessageFileError
from messages.protocol import Protocol, Step, Timing

__all__ = ["Catalog", "MessageFileError", "Protocol", "Step", "Timing", "load_catalog"]
