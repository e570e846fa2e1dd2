"""Telegram's command menus: patients see theirs, staff see theirs (scoped bot commands)."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from bot.commands import Audience, Command, commands_for
from bot.services import Services

log = logging.getLogger(__name__)


def _commands(services: Services, locale: str, commands: tuple[Command, ...]) -> list[BotCommand]:
    return [BotCommand(command.name, services.text(locale, f"command_{command.name}")) for command in commands]


async def set_menus(bot: Bot, services: Services) -> None:
    """Patient commands for everyone (per language), staff commands in staff chats."""
    catalog = services.catalog
    for locale in catalog.locales:
        language = None if locale == "en" else locale
        menu = commands_for(Audience.PATIENT, Audience.ANYONE)
        await bot.set_my_commands(_commands(services, locale, menu), scope=BotCommandScopeDefault(),
                                  language_code=language)
    for chat_id in await services.staff_chats():
        await show_staff_menu(bot, services, chat_id)
    for admin in services.settings.staff_ids:
        await show_staff_menu(bot, services, admin)


async def show_staff_menu(bot: Bot, services: Services, chat_id: int) -> None:
    """The staff menu in one chat (admins also get the staff-management commands)."""
    admin = (Audience.ADMIN,) if services.settings.is_admin(chat_id) else ()
    audiences = (Audience.STAFF, Audience.ANYONE, *admin)
    try:
        await bot.set_my_commands(_commands(services, services.staff_locale, commands_for(*audiences)),
                                  scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        # A staff member who never opened the bot has no chat yet; their menu comes when they join.
        log.info("no staff menu for chat %s yet: %s", chat_id, exc)
