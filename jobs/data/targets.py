"""Where an export or an import's invites go: always a new file or folder, never one that is there.

A symbolic link in the target's place, even one to nowhere (``exists()`` is False for it), is not
followed: writing through it would put patient data wherever it points.
"""

from __future__ import annotations

from pathlib import Path


def target_taken(path: Path, *, what: str = "file") -> str | None:
    """Why nothing new can be created at ``path`` (one line for the admin), or None if it is free."""
    if path.is_symlink():
        return f"{path} is a symbolic link: give a new {what}, not a link"
    if path.exists():
        return f"{path} already exists: give a new {what}"
    return None
