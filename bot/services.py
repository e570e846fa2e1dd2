"""What every handler and job needs, bundled once and reached through ``context.bot_data``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from telegram.ext import ContextTypes

from bot.settings import Settings
from jobs.dispatch import ClinicInfo, DeliveryPolicy
from jobs.storage.db import Store
from messages.catalog import Catalog

SERVICES_KEY = "services"


def utc_now() -> datetime:
    """The real clock; tests hand Services a fake one instead."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Settings, database, texts and the clock."""

    settings: Settings
    store: Store
    catalog: Catalog
    clock: Callable[[], datetime] = utc_now
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    @property
    def clinic(self) -> ClinicInfo:
        """The clinic details quoted in texts."""
        return ClinicInfo(name=self.settings.clinic_name, phone=self.settings.clinic_phone,
                          booking_url=self.settings.booking_url)

    def text(self, locale: str, key: str, /, **values: object) -> str:
        """A bot text with the clinic's details available to it."""
        return self.catalog.bot(locale, key, **values)


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The Services put into bot_data by bot.app.build_application."""
    return context.bot_data[SERVICES_KEY]
