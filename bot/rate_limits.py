"""python-telegram-bot's rate limiter, with every staff group's pace added for what the staff outbox does not send.

Telegram lets a bot write about 20 messages a minute into one group, and about one a second into any
chat. The staff outbox (bot/outbox.py) keeps that pace for every notice it sends, by the staff pacer
(:class:`jobs.staff.outbox.StaffPacer`). What it does not send is a staff command's own answer in the
group (``/patients``, ``/inbox``, ``/enroll``'s QR code, the form's steps), sent by its handler. PTB's
own per-group limit stays off (``group_max_rate=0``): it slept inside whatever was sending, which is
how a staff group once held up the dispatcher. Instead, :class:`StaffAwareRateLimiter` paces those
answers by the same pacer, so that the outbox and the handlers share one budget per group:

- a call that writes into a group (a negative chat id) waits until the group has budget (20 calls a
  minute, a second between two calls), then counts against it; the outbox sees it and waits its turn;
- a 429 holds the group in the pacer for its ``retry_after`` (the outbox's notices wait too) and the
  call is tried again after it, up to :data:`GROUP_RETRIES` times;
- only that handler waits: a chat's updates are handled one at a time (bot/intake.py), so a busy
  group holds up at most its own next command, never another chat's update;
- calls from the outbox itself are already paced (it marks them, :data:`OUTBOX_PACED`), and calls to
  private chats, every patient reminder among them, go as before: only the overall 30 a second.
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# The Bot API methods that write into a chat, and so spend its budget (as PTB's bot names them).
CHAT_WRITES = frozenset({"send_message", "send_photo", "copy_message", "send_document", "send_media_group",
                         "forward_message", "create_forum_topic", "edit_forum_topic", "close_forum_topic",
                         "reopen_forum_topic", "edit_message_text", "edit_message_caption",
                         "edit_message_reply_markup"})
# The same, as the endpoints the rate limiter is told of ("sendMessage").
_ENDPOINTS = frozenset("".join([head, *(part.title() for part in rest)])
                       for head, *rest in (name.split("_") for name in CHAT_WRITES))
# Set while the staff outbox makes a call: its pacer was consulted already.
OUTBOX_PACED: ContextVar[bool] = ContextVar("outbox_paced", default=False)
# A staff command's answer that Telegram asks to wait for is tried again this many times.
GROUP_RETRIES = 2
# The longest an answer waits for its group (the budget's minute, or a 429): well inside the intake's
# lease on the update (bot/intake.py, 2 minutes). A longer wait is given up (RetryAfter, logged).
GROUP_WAIT_LIMIT = timedelta(seconds=75)


class StaffAwareRateLimiter(AIORateLimiter):
    """30 calls a second overall (PTB's limiter), and each group's pace kept by the services' staff pacer."""

    def __init__(self, services: Services, *, overall_max_rate: float, overall_time_period: float) -> None:
        super().__init__(overall_max_rate=overall_max_rate, overall_time_period=overall_time_period,
                         group_max_rate=0, max_retries=0)
        self._services = services

    async def process_request(self, callback, args: Any, kwargs: dict[str, Any], endpoint: str,
                              data: dict[str, Any], rate_limit_args: int | None):
        group = _group_of(data) if endpoint in _ENDPOINTS and not OUTBOX_PACED.get() else None
        if group is None:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        services = self._services
        deadline = services.clock() + GROUP_WAIT_LIMIT
        for attempt in range(GROUP_RETRIES + 1):
            await self._turn(group, deadline)
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except RetryAfter as exc:
                wait = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(
                    seconds=float(exc.retry_after))
                services.staff_pacer.hold(group, services.clock() + wait)
                if attempt == GROUP_RETRIES:
                    raise
                log.warning("staff chat %s: Telegram asks to wait %.0f s; the answer goes after it", group,
                            wait.total_seconds())
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _turn(self, chat_id: int, deadline: datetime) -> None:
        """Wait until ``chat_id`` has budget for one call, then spend it; RetryAfter if that is past ``deadline``."""
        services = self._services
        pacer = services.staff_pacer
        now = services.clock()
        while (ready := pacer.ready_at(chat_id, now)) > now:
            if ready > deadline:
                raise RetryAfter(int((ready - now).total_seconds()) + 1)
            await services.outbox_sleep((ready - now).total_seconds())
            now = services.clock()
        pacer.note(chat_id, now)


def _group_of(data: dict[str, Any]) -> int | None:
    """The group a call writes into (a negative chat id), or None (a private chat, or no chat)."""
    chat_id = data.get("chat_id")
    with contextlib.suppress(ValueError, TypeError):
        chat_id = int(chat_id)  # type: ignore[arg-type]
    return chat_id if isinstance(chat_id, int) and chat_id < 0 else None
