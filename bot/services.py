"""What every handler and job needs, bundled once and reached through ``context.bot_data``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatType

from bot.settings import Settings
from bot.throttle import WrongTokenThrottle
from jobs.dispatch import ChatPacer, ClinicInfo, DeliveryPolicy
from jobs.staff.membership import is_staff_member, note_staff_name, staff_language, staff_members
from jobs.staff.outbox import Notice, StaffPacer, enqueue
from jobs.storage.db import Store
from messages.catalog import Catalog

SERVICES_KEY = "services"
# A language tag as Telegram sends it ("en", "pt-br"): at most 12 characters, within staff_name.language's 16.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})?")


def utc_now() -> datetime:
    """The real clock; tests hand Services a fake one instead."""
    return datetime.now(UTC)


@dataclass
class ForumState:
    """What this process knows of the staff chat as a forum (bot/topics.py): asked of Telegram, then cached."""

    is_forum: bool | None = None        # None: not asked yet
    checked_at: datetime | None = None
    # The last ask failed (kept, like an answer, for a while: a staff chat Telegram will not describe is
    # not asked about again on every alert).
    failed: bool = False
    # createForumTopic was refused (the bot lacks "Manage topics"): alerts go to General until then.
    refused_until: datetime | None = None
    # One topic creation at a time per patient in this process (the database claim covers the others).
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    # How long to wait for another process that is creating a patient's topic, polling the database.
    wait_for_other: float = 5.0


@dataclass
class Services:
    """Settings, database, texts and the clock."""

    settings: Settings
    store: Store
    catalog: Catalog
    clock: Callable[[], datetime] = utc_now
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    # One message per patient chat per second, remembered across dispatcher runs.
    pacer: ChatPacer = field(default_factory=ChatPacer)
    wrong_tokens: WrongTokenThrottle = field(default_factory=WrongTokenThrottle)
    # How long the bot was down before this start (None: new, or already reported), and what the
    # passes since then did, for the summary staff get once the backlog is caught up.
    downtime: timedelta | None = None
    downtime_tally: dict[str, int] = field(default_factory=dict)
    # The dispatcher job: whether a pass is running, and whether someone asked for one more.
    dispatching: bool = False
    dispatch_wanted: bool = False
    # An erasure happened: once the update is handled (its payload dropped), the files are scrubbed.
    scrub_wanted: bool = False
    forum: ForumState = field(default_factory=ForumState)
    # The staff outbox (bot/outbox.py): each staff chat's budget, whether its job runs or was asked for
    # once more, what moves its next run (the application sets it), and its wait between two calls of a notice.
    staff_pacer: StaffPacer = field(default_factory=StaffPacer)
    outbox_running: bool = False
    outbox_wanted: bool = False
    outbox_waker: Callable[[datetime], None] | None = None
    outbox_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Staff names already noted by this process (bot/services.py note_staff): written only when one changes.
    staff_names_seen: dict[int, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def clinic(self) -> ClinicInfo:
        """The clinic details quoted in texts."""
        settings = self.settings
        host = (urlparse(settings.booking_url).hostname or "") if settings.booking_url else ""
        calcom = host in ("cal.com", "cal.eu") or host.endswith((".cal.com", ".cal.eu")) \
            or bool(settings.calcom_webhook_secret)
        return ClinicInfo(name=settings.clinic_name, phone=settings.clinic_phone,
                          booking_url=settings.booking_url, calcom=calcom, review_url=settings.review_url,
                          review_redirect=settings.review_redirect, review_secret=settings.review_secret,
                          hours=settings.clinic_hours, zone=settings.clinic_timezone)

    @property
    def staff_locale(self) -> str:
        """STAFF_LANGUAGE: the staff group's language, and a staff member's when theirs has no texts."""
        return self.catalog.resolve_locale(self.settings.staff_locale)

    def staff_screen_locale(self, update: Update) -> str:
        """The language of a staff screen answering ``update``: the staff member's own Telegram language in a
        private chat (when the clinic has texts for it), STAFF_LANGUAGE in the staff group, which all read."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None or chat.type != ChatType.PRIVATE:
            return self.staff_locale
        return self.catalog.resolve_locale(user.language_code, fallback=self.staff_locale)

    async def chat_locale(self, chat_id: int) -> str:
        """The language of what is sent to a staff chat unasked (an alert): STAFF_LANGUAGE for a group, a staff
        member's private chat in the language they last acted in (noted by :meth:`note_staff`)."""
        if chat_id < 0 or chat_id == self.settings.staff_chat_id:
            return self.staff_locale
        seen = self.staff_names_seen.get(chat_id)
        code = seen[1] if seen else await self.store.run(staff_language, user_id=chat_id)
        return self.catalog.resolve_locale(code, fallback=self.staff_locale)

    def text(self, locale: str, key: str, /, **values: object) -> str:
        """A ``[bot]`` text in ``locale``; the clinic's name and phone are always available to it."""
        values = {"clinic_name": self.clinic_name(locale), "clinic_phone": self.phone(locale), **values}
        return self.catalog.bot(locale, key, **values)

    def duration(self, locale: str, value: timedelta | None) -> str:
        """"4 mins", "2 hrs 5 mins", "3 days 4 hrs" in ``locale``'s own units ("-" for None): waits in /inbox and
        /stats, downtime."""
        return "-" if value is None else self.catalog.format_duration(locale, value)

    def phone(self, locale: str) -> str:
        """The clinic's phone, or a stand-in phrase while CLINIC_PHONE is unset."""
        return self.settings.clinic_phone or self.catalog.bot(locale, "clinic_phone_missing")

    def emergency_phone(self, locale: str) -> str:
        """The number to call if things get worse: EMERGENCY_PHONE, else the clinic's phone."""
        return self.settings.emergency_phone or self.phone(locale)

    def staff_time(self, moment: datetime, patient_zone: str | None = None, locale: str | None = None) -> str:
        """``moment`` as staff read it (in ``locale``, else STAFF_LANGUAGE): the clinic's time, and the patient's
        with their zone named when it differs ("Thu 26 Nov, 11:05 (10:05 for the patient, Europe/London)")."""
        locale, clinic = locale or self.staff_locale, self.settings.clinic_timezone
        when = self.catalog.format_date(locale, moment.astimezone(clinic), with_time=True)
        if not patient_zone or patient_zone == clinic.key:
            return when
        local = moment.astimezone(ZoneInfo(patient_zone))
        if local.date() == moment.astimezone(clinic).date():
            shown = local.strftime("%H:%M")
        else:
            shown = self.catalog.format_date(locale, local, with_time=True)
        return self.text(locale, "staff_time_patient", when=when, local=shown, zone=patient_zone)

    def closed_until(self, locale: str, zone: str) -> str | None:
        """Out of CLINIC_HOURS: when the clinic next opens, written for a reader in ``zone`` ("" if it never
        does); None while it is open (or no hours are set)."""
        settings = self.settings
        now = self.clock()
        if settings.clinic_hours.is_open(now, settings.clinic_timezone):
            return None
        opening = settings.clinic_hours.next_opening(now, settings.clinic_timezone)
        return self.catalog.format_date(locale, opening.astimezone(ZoneInfo(zone)), with_time=True) if opening else ""

    def clinic_name(self, locale: str) -> str:
        """The clinic's name, or a stand-in ("our clinic") in the reader's language while CLINIC_NAME is unset."""
        return self.settings.clinic_name or self.catalog.bot(locale, "clinic_name_missing")

    def locale_of(self, update: Update) -> str:
        """The language to answer this update's sender in (their Telegram language, if we have it)."""
        user = update.effective_user
        return self.catalog.resolve_locale(user.language_code if user else None)

    async def note_staff(self, user) -> None:
        """Remember the name Telegram gives a staff member who acts (written when it changes)."""
        name = " ".join("".join(c for c in (user.full_name or "") if c.isprintable()).split())[:200]
        # Whatever Telegram sends, only a language tag is kept.
        code = user.language_code if _LANGUAGE_TAG.fullmatch(user.language_code or "") else None
        if not name or self.staff_names_seen.get(user.id) == (name, code):
            return
        await self.store.run(note_staff_name, user_id=user.id, name=name, now=self.clock(), language=code)
        self.staff_names_seen[user.id] = (name, code)

    async def is_staff(self, user_id: int | None) -> bool:
        """Admins (STAFF_IDS) and staff who joined through a staff invite."""
        if user_id is None:
            return False
        if self.settings.is_admin(user_id):
            return True
        return await self.store.run(is_staff_member, user_id=user_id)

    async def queue_staff(self, notices: list[Notice]) -> int:
        """Queue notices for staff chats (jobs/staff/outbox.py) and wake the outbox job; return how many."""
        if not notices:
            return 0
        await self.store.run(enqueue, notices=notices, now=self.clock())
        self.outbox_wanted = True
        if not self.outbox_running and self.outbox_waker is not None:
            self.outbox_waker(datetime.now(UTC))
        return len(notices)

    async def staff_chats(self) -> list[int]:
        """Where alerts go: the staff chat if set, otherwise every staff member privately."""
        if self.settings.staff_chat_id is not None:
            return [self.settings.staff_chat_id]
        members = await self.store.run(staff_members)
        return sorted(set(self.settings.staff_ids) | {member.user_id for member in members})

