"""Telegram's command menus: patients see theirs, staff see theirs (scoped bot commands)."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.commands import Audience, Command, commands_for
from bot.services import Services
from bot.settings import Settings
from jobs.staff.membership import staff_members

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
    if services.settings.console_over_https and services.settings.http_port is not None:
        for user_id in sorted(set(services.settings.staff_ids) | {member.user_id for member in
                                                                  await services.store.run(staff_members)}):
            await show_console_button(bot, services, user_id)


async def show_staff_menu(bot: Bot, services: Services, chat_id: int) -> None:
    """The staff menu in one chat (admins also get the staff-management commands)."""
    admin = (Audience.ADMIN,) if services.settings.is_admin(chat_id) else ()
    audiences = (Audience.STAFF, Audience.ANYONE, *admin)
    try:
        # The group's in STAFF_LANGUAGE; a staff member's private chat in the language they last acted in.
        await bot.set_my_commands(_commands(services, await services.chat_locale(chat_id), commands_for(*audiences)),
                                  scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        # A staff member who never opened the bot has no chat yet; their menu comes when they join.
        log.info("no staff menu for chat %s yet: %s", chat_id, exc)


def console_app_url(settings: Settings) -> str:
    """The Mini App's entry page (bot/web/console/): Telegram opens it with initData in its hash."""
    return f"{settings.console_base}/console/app"


async def show_console_button(bot: Bot, services: Services, user_id: int) -> None:
    """A staff member's menu button opens the console as a Mini App (Telegram allows it over HTTPS only)."""
    try:
        label = services.text(await services.chat_locale(user_id), "console_button_open")
        await bot.set_chat_menu_button(chat_id=user_id, menu_button=MenuButtonWebApp(
            label, WebAppInfo(console_app_url(services.settings))))
    except TelegramError as exc:
        log.info("no console menu button for chat %s yet: %s", user_id, exc)
