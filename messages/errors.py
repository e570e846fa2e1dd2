"""The one error a broken message or protocol file raises, naming the file, the place and the key."""

from __future__ import annotations

from pathlib import Path


class MessageFileError(ValueError):
    """A protocol or text file that cannot be used; ``str()`` is one line a clinic admin can act on."""

    def __init__(self, path: Path | str, where: str, problem: str) -> None:
        self.path = Path(path)
        self.where = where
        self.problem = problem
        location = f"{self.path}: {where}" if where else str(self.path)
        super().__init__(f"{location}: {problem}")
