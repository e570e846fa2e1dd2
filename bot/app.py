"""The one place that assembles the bot: settings in, a configured ``Application`` out.

Every handler and job is registered here, in the order that matters (noted where it does).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot.access import AuditedApplication, staff_only
from bot.callbacks import ButtonHandler
from bot.commands import COMMANDS, Audience, Command
from bot.context import CONTEXT_TYPES
from bot.delivery import (
    DISPATCH_JOB_NAME,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_JOB_NAME,
    INBOX_INTERVAL,
    INBOX_JOB_NAME,
    PRUNE_INTERVAL,
    PRUNE_JOB_NAME,
    dispatch_job,
    heartbeat_job,
    inbox_job,
    note_downtime,
    prune_job,
)
from bot.handlers import (
    answers,
    common,
    console,
    enroll,
    inbox,
    membership,
    outcomes,
    patient,
    photos,
    relay,
    staff,
    start,
)
from bot.http_client import REQUESTS_KEY, AiohttpRequest
from bot.intake import INTAKE_KEY, ChatOrderedProcessor, Intake
from bot.logs import quiet_libraries
from bot.menus import set_menus
from bot.outbox import OUTBOX_INTERVAL, OUTBOX_JOB_NAME, outbox_job, outbox_waker
from bot.rate_limits import StaffAwareRateLimiter
from bot.services import SERVICES_KEY, Services, utc_now
from bot.settings import Settings, SettingsError
from jobs import buttons
from jobs.dispatch import DeliveryPolicy
from jobs.storage.db import HANDLER_BUSY_TIMEOUT_MS, Store, make_engine
from jobs.storage.db import migrate as migrate_schema
from messages.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)

# A job that only ticks: one run at a time; a run missed while the machine slept runs at the next tick.
TICKING_JOB = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
# A job that is also woken (moved to "now" when work arrives). APScheduler counts a run until a moment
# after its callback returns, and a wake in that moment would be refused as a second instance and wait
# for the next tick (30 s for a patient's first message). A second instance is allowed, and the rounds
# functions make it harmless: beside a running pass it only asks that pass for one more round.
WOKEN_JOB = {"max_instances": 2, "coalesce": True, "misfire_grace_time": None}

# What each command of the registry (bot/commands.py) runs. The registry is data; the names are
# bound to handlers here, where everything is wired, so no handler imports this table's module.
CALLBACKS: dict[str, Callable[..., Awaitable[object]]] = {
    "start": start.start_command,
    "status": patient.status_command,
    "pause": patient.pause_command,
    "resume": patient.resume_command,
    "timezone": patient.timezone_command,
    "language": patient.language_command,
    "stop": patient.stop_command,
    "delete": patient.delete_command,
    "enroll": enroll.enroll_command,
    "patients": console.patients_command,
    "patient": console.patient_command,
    "session": console.session_command,
    "invite": console.invite_command,
    "cancel": console.cancel_command,
    "reopen": console.reopen_command,
    "withdraw": console.withdraw_command,
    "inbox": inbox.inbox_command,
    "take": inbox.take_command,
    "resolve": inbox.resolve_command,
    "stats": console.stats_command,
    "console": console.console_command,
    "staffinvite": staff.staffinvite_command,
    "staff": staff.staff_command,
    "removestaff": staff.removestaff_command,
    "help": common.help_command,
}


def command_callbacks(
    commands: tuple[Command, ...] = COMMANDS,
    callbacks: dict[str, Callable[..., Awaitable[object]]] = CALLBACKS,
) -> list[tuple[Command, Callable[..., Awaitable[object]]]]:
    """Each command with the callback to register (staff and admin ones behind the one access check).

    Checked when the application is built: every command of the registry has exactly one callback,
    and no callback waits for a command the registry does not have.
    """
    names = [command.name for command in commands]
    doubled = sorted({name for name in names if names.count(name) > 1})
    missing = sorted(set(names) - set(callbacks))
    unknown = sorted(set(callbacks) - set(names))
    if doubled or missing or unknown:
        raise RuntimeError(f"the command registry and bot.app.CALLBACKS disagree: listed twice {doubled}, "
                           f"no callback {missing}, no command {unknown}")
    bound = []
    for command in commands:
        callback = callbacks[command.name]
        if command.staff_only:
            callback = staff_only(callback, private=command.private, admin=command.audience is Audience.ADMIN)
        bound.append((command, callback))
    return bound


def load_messages(settings: Settings) -> Catalog:
    """Load and check the message files, and the settings that name a protocol or a language in them."""
    catalog = load_catalog(settings.messages_dir, default_protocol=None)
    if settings.default_protocol not in catalog.protocols:
        raise SettingsError("DEFAULT_PROTOCOL", f"{settings.default_protocol!r} is not a protocol file "
                            f"(have: {', '.join(sorted(catalog.protocols))})")
    for key, locale in (("STAFF_LANGUAGE", settings.staff_locale), ("DEFAULT_LANGUAGE", settings.default_locale)):
        if locale not in catalog.locales:
            raise SettingsError(key, f"{locale!r} has no texts (have: {', '.join(catalog.locales)})")
    return replace(catalog, default_protocol=settings.default_protocol, default_locale=settings.default_locale)


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now, migrate: bool = True) -> Services:
    """Load and check the message files, open the database and bring its schema up to date."""
    catalog = load_messages(settings)
    engine = make_engine(settings.database_url)
    if migrate:
        migrate_schema(engine)  # under a lock: instances started together never race (refuses a newer schema)
        log.info("database schema is up to date (%s)", engine.url.get_backend_name())
    # Handlers wait briefly for a locked SQLite file, then say "busy"; the dispatcher waits longer.
    store = Store(engine, busy_timeout_ms=HANDLER_BUSY_TIMEOUT_MS)
    return Services(settings=settings, store=store, catalog=catalog, clock=clock,
                    policy=DeliveryPolicy(lease=settings.claim_lease))


def build_application(settings: Settings, services: Services | None = None) -> Application:
    """The configured Application: client, handlers, the dispatcher job, the durable intake."""
    services = services or build_services(settings)
    quiet_libraries()
    updates_request, request = AiohttpRequest(connection_pool_size=1), AiohttpRequest()
    builder = (
        ApplicationBuilder()
        # Each update's handlers know who acts, for the audit trail (bot/access.py).
        .application_class(AuditedApplication)
        .token(settings.bot_token)
        # 30 messages/s overall as one message every 1/30 s: the default bucket of 30 lets a burst
        # of 30 go at once on top of the steady rate, which Telegram answers with 429s (bench/).
        # RetryAfter comes back to the dispatcher, which re-queues the reminder.
        # Each staff group's 20 a minute is kept by the staff pacer, for the outbox (bot/outbox.py) and
        # for staff commands' answers alike (bot/rate_limits.py); never inside the dispatcher.
        .rate_limiter(StaffAwareRateLimiter(services, overall_max_rate=1, overall_time_period=1 / 30))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        # aiohttp instead of PTB's default httpx: a quarter of the CPU per call (bot/http_client.py).
        .request(request)
        .get_updates_request(updates_request)
        # No Updater: it confirms updates to Telegram before they are handled. bot/intake.py stores
        # each update first and hands it to process_update from the database.
        .updater(None)
        # Different chats' updates at once, one chat's in order (the intake claims per chat too).
        .concurrent_updates(ChatOrderedProcessor())
        # Handlers get context.services, context.locale and context.reply() (bot/context.py).
        .context_types(CONTEXT_TYPES)
        # Every text we send is HTML (placeholders escaped by messages/catalog.py): said once, here.
        .defaults(Defaults(parse_mode=ParseMode.HTML))
    )
    if settings.telegram_api_base_url:
        root = settings.telegram_api_base_url
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    application = builder.build()
    application.bot_data[SERVICES_KEY] = services
    application.bot_data[REQUESTS_KEY] = (updates_request, request)
    application.bot_data[INTAKE_KEY] = Intake(application, services, updates_request)

    # New messages only: an edited /session must not record another session (edits come below).
    new = filters.UpdateType.MESSAGE
    for command, callback in command_callbacks():  # bot/commands.py: the one list (access, menus, /help)
        application.add_handler(CommandHandler(command.name, callback, filters=new))
    # Each press read once (jobs.buttons), handed to its kind's handler as context.button.
    application.add_handler(ButtonHandler({
        buttons.ENROLL_FORM: enroll.form_button,
        buttons.CHECKIN: answers.checkin_button, buttons.REBOOK: answers.rebook_button,
        buttons.OUTCOME: outcomes.outcome_button,
        buttons.PHOTO_CONSENT: outcomes.photo_consent_button,
        buttons.CONFIRM: patient.confirm_button, buttons.LANGUAGE: patient.language_button,
        buttons.PATIENTS: console.patients_button,
        buttons.SWITCH: start.switch_button, buttons.SESSION_CONFIRM: console.session_confirm_button,
        buttons.PHOTO_REVIEW: photos.photo_review_button,
        buttons.INBOX: inbox.inbox_button,
        buttons.STAFF_CONFIRM: console.staff_confirm_button,
    }))
    # After every button of ours: data no button carries (old, forged) still gets an answer.
    application.add_handler(CallbackQueryHandler(common.unknown_button))
    application.add_handler(ChatMemberHandler(membership.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(new & filters.LOCATION & filters.ChatType.PRIVATE,
                                           patient.location_message))
    # A number shared with the "I'm worried" flow's button.
    application.add_handler(MessageHandler(new & filters.CONTACT & filters.ChatType.PRIVATE, inbox.contact_message))
    # Last: any other text, photo or attachment is a message for the clinic (or a staff reply to one).
    attachments = (filters.VOICE | filters.AUDIO | filters.VIDEO | filters.Document.ALL | filters.VIDEO_NOTE
                   | filters.Sticker.ALL)
    application.add_handler(MessageHandler(new & ((filters.TEXT & ~filters.COMMAND) | filters.PHOTO | attachments),
                                           relay.incoming_message))
    application.add_handler(MessageHandler(new & filters.COMMAND, common.unknown_command))
    # An edit re-runs nothing; a patient's edited words reach staff once, marked as an edit.
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, relay.edited_message))
    application.add_error_handler(common.error_handler)

    application.job_queue.run_repeating(dispatch_job, interval=settings.dispatch_interval, first=1,
                                        name=DISPATCH_JOB_NAME, job_kwargs=WOKEN_JOB)
    # The staff outbox: its own job, so a staff group's pace never holds the dispatcher (bot/outbox.py).
    application.job_queue.run_repeating(outbox_job, interval=OUTBOX_INTERVAL, first=1, name=OUTBOX_JOB_NAME,
                                        job_kwargs=WOKEN_JOB)
    services.outbox_waker = outbox_waker(application.job_queue)
    application.job_queue.run_repeating(heartbeat_job, interval=HEARTBEAT_INTERVAL, first=HEARTBEAT_INTERVAL,
                                        name=HEARTBEAT_JOB_NAME,
                                        job_kwargs=TICKING_JOB)
    application.job_queue.run_repeating(inbox_job, interval=INBOX_INTERVAL, first=INBOX_INTERVAL, name=INBOX_JOB_NAME,
                                        job_kwargs=TICKING_JOB)
    application.job_queue.run_repeating(prune_job, interval=PRUNE_INTERVAL, first=PRUNE_INTERVAL, name=PRUNE_JOB_NAME,
                                        job_kwargs=TICKING_JOB)
    return application


async def _post_init(application: Application) -> None:
    # Start-up objects (modules, mappers, PTB classes) live for the whole run: keep them out of
    # the garbage collector's full passes, which otherwise stall a claim now and then (bench/).
    gc.freeze()
    services = application.bot_data[SERVICES_KEY]
    await note_downtime(services)
    await set_menus(application.bot, services)


async def _post_shutdown(application: Application) -> None:
    services: Services | None = application.bot_data.get(SERVICES_KEY)
    if services is not None:
        services.store.dispose()

