"""Pacing and group commit: how fast one chat may be written to, and how outcomes reach the database.

:class:`ChatPacer` keeps Telegram's one-message-per-second limit for a private chat;
:class:`OutcomeRecorder` writes the outcomes of sends that finish together in one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlmodel import Session

from jobs.dispatch.queries import record_sent, record_sent_many


class ChatPacer:
    """At most one message per chat per ``interval``: Telegram's limit for a single private chat.

    Remembers when each chat last got a message; entries older than the interval are dropped,
    so it stays small. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, interval: float = 1.0, *, clock=time.monotonic, sleep=asyncio.sleep) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._last: dict[int, float] = {}

    async def wait(self, chat_id: int) -> None:
        """Sleep until ``chat_id`` may get its next message, then note that it gets one now."""
        if self.interval <= 0:
            return
        now = self.clock()
        last = self._last.get(chat_id)
        if last is not None and now - last < self.interval:
            await self.sleep(self.interval - (now - last))
            now = self.clock()
        self._last[chat_id] = now
        if len(self._last) > 1024:
            self._last = {chat: at for chat, at in self._last.items() if now - at < self.interval}


class OutcomeRecorder:
    """Group commit: outcomes of sends that finish together are written in one transaction.

    Each send still waits until its own outcome is committed before it counts as done, so the
    crash promise is unchanged (only sends in flight can repeat); but eight sends finishing at
    once cost one worker-thread hop and one commit instead of eight.
    """

    def __init__(self, store) -> None:
        self.store = store
        self._waiting: list[tuple[Callable, dict, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def record(self, function: Callable, /, **kwargs):
        """Apply ``function(session, **kwargs)`` with whatever else is waiting; return its result."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((function, kwargs, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the other sends that finished in this loop turn join in
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self.store.run(_apply_all, operations=[(f, kw) for f, kw, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiting send gets the error, none is lost
                    for _, _, future in batch:
                        if not future.done():  # a send cancelled meanwhile no longer listens
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None


def _apply_all(session: Session, *, operations: list[tuple[Callable, dict]]) -> list:
    # Sends are nearly all of a batch: one executemany for them (each touches its own row, so the
    # order between them and the rest does not matter); everything else one by one.
    record_sent_many(session, [kwargs for function, kwargs in operations if function is record_sent])
    return [None if function is record_sent else function(session, **kwargs) for function, kwargs in operations]

