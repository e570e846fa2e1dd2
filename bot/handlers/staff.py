"""Staff management: admins (STAFF_IDS) invite staff with a one-time link, list and remove them."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update

from bot import menus
from bot.alerts import alert_staff
from bot.context import AftercareContext
from bot.invite_card import invite_link
from jobs.inputs import parse_user_id, storable_text
from jobs.refusal import Refusal
from jobs.staff.membership import create_staff_invite, redeem_staff_invite, remove_staff, staff_members

log = logging.getLogger(__name__)

STAFF_INVITE_TTL = timedelta(days=2)


async def staffinvite_command(update: Update, context: AftercareContext) -> None:
    """A one-time link that makes whoever opens it staff."""
    services = context.services
    payload = await services.store.run(create_staff_invite, created_by=update.effective_user.id,
                                       now=services.clock(), ttl=STAFF_INVITE_TTL)
    log.info("admin %s created a staff invite", update.effective_user.id)
    await update.effective_message.reply_html(services.text(
        context.locale, "staffinvite_done",
        valid_for=services.catalog.format_span(context.locale, STAFF_INVITE_TTL, "day"),
        link=invite_link(context.bot.username, payload)))


async def join_as_staff(update: Update, context: AftercareContext, payload: str) -> None:
    """``/start staff-<token>``: redeem a staff invite."""
    services = context.services
    user = update.effective_user
    locale = context.locale
    # Staff are not patients: their Telegram name helps admins see who is who (alerts, /staff).
    # Whatever its owner typed, storable and sendable: no NUL (PostgreSQL), no lone surrogate (JSON to Telegram).
    staff_name = storable_text(user.full_name + (f" (@{user.username})" if user.username else ""))[:200]
    try:
        await services.store.run(redeem_staff_invite, payload=payload, user_id=user.id, now=services.clock(),
                                 name=staff_name)
    except Refusal as refusal:
        log.info("staff invite refused for user %s: %s", user.id, refusal.values.get("why"))
        await services.wrong_tokens.wrong_token(user.id)
        raise
    log.info("user %s joined the staff", user.id)
    await update.effective_message.reply_html(services.text(locale, "staff_joined"))
    await menus.show_staff_menu(context.bot, services, update.effective_chat.id)
    await alert_staff(services, context.bot, services.text(services.staff_locale, "staff_joined_alert",
                                                           staff_name=staff_name, user_id=user.id), exclude=user.id)


async def staff_command(update: Update, context: AftercareContext) -> None:
    """List admins and invited staff."""
    services = context.services
    locale = context.locale
    members = await services.store.run(staff_members)
    none = services.text(locale, "staff_none")
    await update.effective_message.reply_html(services.text(
        locale, "staff_list", admins=", ".join(map(str, sorted(services.settings.staff_ids))) or none,
        members=", ".join(services.text(locale, "staff_member", name=member.name, user_id=member.user_id)
                          if member.name else str(member.user_id) for member in members) or none))


async def removestaff_command(update: Update, context: AftercareContext) -> None:
    """``/removestaff <user id>``: an invited staff member loses access."""
    services = context.services
    locale = context.locale
    user_id = parse_user_id(context.args[0] if context.args else "", key="removestaff_usage")
    removed = await services.store.run(remove_staff, user_id=user_id, now=services.clock())
    log.info("admin %s removed staff %s: %s", update.effective_user.id, user_id, removed)
    await update.effective_message.reply_html(services.text(
        locale, "removestaff_done" if removed else "removestaff_unknown", user_id=user_id))
