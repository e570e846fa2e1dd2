"""The ``aftercare`` command: run the bot, preview a protocol's timeline, check the set-up, migrate.

The entry point only loads ``.env``, builds and runs; a bad setting or message file ends it with
one line naming the key (exit status 2), never with a traceback. The operator's commands (audit,
backup, restore, migrate) live in ``bot/cli_ops.py``; every command but ``run`` acts, for the audit
trail, as the operator at the shell.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.exc import SQLAlchemyError

from bot import cli_ops
from bot.settings import Settings, SettingsError, unknown_keys
from jobs.ops import audit
from jobs.storage.db import StorageError
from messages.errors import MessageFileError

log = logging.getLogger("aftercare")


class EnvFileError(ValueError):
    """An ``--env-file`` that was named but cannot be read."""


def read_env_file(env_file: Path | None) -> dict[str, str]:
    """The settings in ``env_file`` (``.env`` here when None, if any); EnvFileError if a named one is missing."""
    if env_file is None:
        env_file = Path(".env")
        if not env_file.is_file():
            return {}
    elif not env_file.is_file():
        raise EnvFileError(f"--env-file: no such file {str(env_file)!r}" if not env_file.exists()
                           else f"--env-file: {str(env_file)!r} is a folder, not a file")
    return {key: value for key, value in dotenv_values(env_file).items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _main(args, parser)
    except BrokenPipeError:
        # `aftercare preview | head`: the reader has gone, and that is fine.
        sys.stderr.close()
        return 0


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    command = args.command or "run"
    try:
        file_values = read_env_file(Path(args.env_file) if args.env_file else None)
    except EnvFileError as exc:
        print(f"aftercare: {exc}", file=sys.stderr)
        return 2
    if command in ("run", "check"):
        # A misspelt key in .env is otherwise silently ignored (the environment holds other programs' keys).
        for line in unknown_keys(file_values):
            print(f"aftercare: warning: .env: {line}", file=sys.stderr)
    env = {**file_values, **os.environ}
    with audit.acting(_operator() if command != "run" else audit.SYSTEM):
        return _command(command, env, args, parser)


def _operator() -> audit.Who:
    """The person at the shell, by their login name (the audit trail's "who" for the command line)."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        name = f"uid {os.getuid()}"
    return audit.Who(audit.ActorKind.OPERATOR, audit.Face.CLI, name=name)


def _command(command: str, env: dict[str, str], args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        if command == "run":
            return _run(env, env_file=Path(args.env_file or ".env"))
        if command == "preview":
            return _preview(env, args)
        if command == "check":
            return _check(env, telegram=args.telegram, env_file=Path(args.env_file or ".env"))
        if command == "db":
            return _db(env, args)
        if command == "export-messages":
            return _export_messages(Path(args.folder))
        if command == "import":
            return _import(env, args)
        if command == "cards":
            return _cards(env, args)
        if command == "export":
            return _export(env, args)
        if command == "api-key":
            return _api_key(env, args)
        status = cli_ops.run(command, env, args)
        if status is not None:
            return status
    except (SettingsError, MessageFileError) as exc:
        print(f"aftercare: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"aftercare: DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        # The URL may hold a password: name the key and the driver's complaint only.
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        print(f"aftercare: DATABASE_URL: cannot use the database: {reason}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {command!r}")
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aftercare", description="Aftercare bot for a clinic's patients.")
    parser.add_argument("--env-file", help="settings file (default: .env in this folder, if there is one)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    preview = commands.add_parser("preview", help="print the timeline a patient would get, without Telegram")
    preview.add_argument("--session", required=True, help='session time, e.g. "2026-11-24 15:30" (clinic time)')
    preview.add_argument("--protocol", help="protocol name (default: the clinic's default)")
    preview.add_argument("--number", type=int, default=1, help="which session of the series (default 1)")
    preview.add_argument("--of", type=int, dest="series_length", help="sessions in the series (default SERIES_LENGTH)")
    preview.add_argument("--tz", help="patient's time zone (default CLINIC_TIMEZONE)")
    preview.add_argument("--locale", default="en", help="language of the texts (default en)")
    preview.add_argument("--name", default="Anna", help="patient name used in the texts")
    preview.add_argument("--texts", action="store_true", help="print each message's text too")
    check = commands.add_parser("check", help="check settings, message files and the database, then exit")
    check.add_argument("--telegram", action="store_true", help="also ask Telegram whether the token works (getMe)")
    export = commands.add_parser("export-messages", help="copy the default protocols and texts to a folder to edit")
    export.add_argument("folder", help="a new folder; then set MESSAGES_DIR to it")
    imports = commands.add_parser("import", help="enroll every patient of a CSV file (all or nothing) and write "
                                  "their invite links as a CSV and as cards to print")
    imports.add_argument("file", help="a CSV whose first line names the columns: name, session_at, session, series, "
                         "protocol, tz, lang, phone, external_id (only name is required)")
    imports.add_argument("--check", action="store_true", help="check every row and import nothing")
    imports.add_argument("--out", help="folder for FILE-invites.csv and FILE-invites.pdf (default: FILE's folder)")
    imports.add_argument("--cards", action=argparse.BooleanOptionalAction, default=None,
                         help="write the cards PDF (default: yes up to 1,000 patients)")
    imports.add_argument("--bot-username", help="the bot's @username for the links (default: asked from Telegram)")
    cards = commands.add_parser("cards", help="invite cards to print (PDF) from an invites CSV (or a part of it)")
    cards.add_argument("file", help="an invites CSV written by aftercare import")
    cards.add_argument("--out", help="the PDF to write (default: FILE with .pdf)")
    exports = commands.add_parser("export", help="export every patient's data: CSV files, or one FHIR R4 Bundle")
    exports.add_argument("--format", choices=["csv", "fhir"], required=True)
    exports.add_argument("target", help="csv: a new folder; fhir: a new .json file")
    keys = commands.add_parser("api-key", help="keys for the HTTP API: create (shown once), list, revoke")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("name", nargs="?", help="create/revoke: the key's name, e.g. the system that uses it")
    cli_ops.add_parsers(commands)
    db = commands.add_parser("db", help="database migrations, and copying to another database")
    db.add_argument("action", choices=["upgrade", "current", "copy-to"],
                    help="upgrade: apply migrations; current: show the schema version; "
                         "copy-to URL: copy everything into a new, empty database (the bot stopped)")
    db.add_argument("url", nargs="?", help="copy-to: the target database URL, e.g. postgresql+psycopg://…")
    db.add_argument("--even-if-running", action="store_true",
                    help="copy-to: copy although a bot wrote a heartbeat in the last minutes")
    return parser


def _run(env: dict[str, str], *, env_file: Path | None = None) -> int:
    import asyncio

    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application, build_services
    from bot.logs import configure_logging
    from bot.runner import serve
    from jobs.storage.presence import AlreadyRunning

    settings = Settings.from_env(env)
    configure_logging(settings.log_level, settings.bot_token)
    services = build_services(settings)
    application = build_application(settings, services)
    for warning in setup_warnings(settings, services.catalog, env):
        log.warning("%s", warning)
    # What `check` warns about, said again where the admin looks once the bot runs (its log).
    from jobs.storage.db import sqlite_files

    private = [(env_file, "holds the bot token"),
               *((path, "holds patient data") for path in sqlite_files(services.store.engine))]
    for warning in file_mode_warnings(private):
        log.warning("%s", warning)
    log.info("starting: %d protocols, %d languages, database %s, clinic zone %s, quiet hours %s",
             len(services.catalog.protocols), len(services.catalog.locales),
             services.store.engine.url.get_backend_name(), settings.clinic_timezone.key, settings.quiet_hours)
    try:
        if settings.webhook_url:
            # Several instances can run behind one load balancer: each serves updates, and their
            # dispatchers share the work through the database's atomic claims.
            log.info("serving updates by webhook on %s:%d", settings.webhook_listen, settings.webhook_port)
        asyncio.run(serve(application, settings))
    except AlreadyRunning as exc:
        print(f"aftercare: DATABASE_URL: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print("aftercare: BOT_TOKEN: Telegram rejected this token (mistyped, or revoked in @BotFather?)",
              file=sys.stderr)
        return 2
    except NetworkError as exc:
        where = settings.telegram_api_base_url or "api.telegram.org"
        print(f"aftercare: cannot reach the Bot API at {where}: {exc.message}", file=sys.stderr)
        return 3
    return 0


def _preview(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.enroll_args import parse_session_time, parse_zone
    from jobs.care.planning import plan_reminders
    from jobs.care.silence import KIND_NUDGE, plan_followups
    from jobs.dispatch import ClaimedReminder, ClinicInfo, render_reminder
    from jobs.dispatch.render import render_nudge
    from jobs.refusal import Refusal
    from messages.catalog import load_catalog
    from messages.protocol import ANSWERED_KINDS, KIND_PHOTO

    settings = Settings.from_env(env, require_token=False)
    catalog = load_catalog(settings.messages_dir, default_protocol=None)
    try:
        protocol = catalog.protocol(args.protocol or settings.default_protocol)
    except KeyError:
        name = args.protocol or settings.default_protocol
        key = "--protocol" if args.protocol else "DEFAULT_PROTOCOL"
        print(f"aftercare: {key}: no protocol {name!r} (have: {', '.join(sorted(catalog.protocols))})",
              file=sys.stderr)
        return 2
    try:
        zone = parse_zone(args.tz) if args.tz else settings.clinic_timezone
    except Refusal:
        print(f"aftercare: --tz: {args.tz!r} is not an IANA time zone such as Europe/Madrid", file=sys.stderr)
        return 2
    try:
        session_at = parse_session_time(args.session, now=datetime.now(UTC), zone=settings.clinic_timezone)
    except Refusal:
        print(f"aftercare: --session: cannot read {args.session!r}: use e.g. \"2026-11-24 15:30\" (clinic time)",
              file=sys.stderr)
        return 2
    length = args.series_length or settings.series_length
    if not 1 <= args.number <= length:
        print(f"aftercare: --number {args.number} does not fit a series of {length}", file=sys.stderr)
        return 2
    locale = catalog.resolve_locale(args.locale)
    if locale != args.locale.replace("_", "-").lower().split("-")[0]:
        print(f"aftercare: --locale: no texts in {args.locale!r} (have: {', '.join(catalog.locales)})", file=sys.stderr)
        return 2
    plan = plan_reminders(protocol=protocol, session_at=session_at, zone=zone, quiet_hours=settings.quiet_hours,
                          session_number=args.number, series_length=length, now=session_at)
    clinic = ClinicInfo(settings.clinic_name, settings.clinic_phone, settings.booking_url)
    print(f"{protocol.title} ({protocol.name}, version {protocol.version}) · session {args.number} of {length}")
    print(f"session {session_at.astimezone(zone):%a %d %b %Y %H:%M} {zone.key} · quiet hours {settings.quiet_hours}")
    print()
    # A protocol timed in seconds (to try it out in minutes) shows seconds; the usual one does not.
    seconds = any(moment.second for item in plan for moment in (item.due_at, item.expires_at))
    stamp = "%a %d %b %H:%M:%S" if seconds else "%a %d %b %H:%M"
    print(f"  {'due (' + zone.key + ')':<24} {'step':<26} {'kind':<8} valid until")
    for item in plan:
        moved = "  (moved out of quiet hours)" if item.due_at != item.planned_at else ""
        print(f"  {item.due_at.astimezone(zone).strftime(stamp):<24} {item.step_key:<26} {item.kind:<8} "
              f"{item.expires_at.astimezone(zone).strftime(stamp)}{moved}")
        for line in _after_series_lines(item, protocol=protocol, catalog=catalog, locale=locale, settings=settings):
            print(f"  {'':<24} {line}")
        if args.texts:
            claimed = ClaimedReminder(
                id=0, patient_id=0, chat_id=0, patient_name=args.name, locale=locale, timezone=zone.key,
                step_key=item.step_key, text_key=item.text_key, kind=item.kind, due_at=item.due_at,
                expires_at=item.expires_at, attempts=0, session_number=args.number, series_length=length,
                session_at=session_at, protocol_name=protocol.name)
            text = re.sub(r"<[^>]+>", "", render_reminder(claimed, catalog=catalog, clinic=clinic))
            print("\n".join("      " + line for line in text.splitlines()) + "\n")
        # Silence noticed: what follows if the step is sent on time and nobody answers it.
        followups = plan_followups(kind=item.kind, nudge_after=item.nudge_after_spec,
                                   alert_after=item.alert_after_spec, sent_at=item.due_at, zone=zone,
                                   quiet_hours=settings.quiet_hours,
                                   answer_until=item.expires_at if item.kind == KIND_PHOTO else None)
        for followup in followups if item.kind in ANSWERED_KINDS else ():
            what = "↳ nudge if no answer" if followup.kind == KIND_NUDGE else "↳ staff alert if no answer"
            print(f"  {followup.due_at.astimezone(zone).strftime(stamp):<24} {what:<26} {followup.kind:<8} "
                  f"{followup.expires_at.astimezone(zone).strftime(stamp)}")
            if args.texts and followup.kind == KIND_NUDGE:
                claimed = ClaimedReminder(
                    id=0, patient_id=0, chat_id=0, patient_name=args.name, locale=locale, timezone=zone.key,
                    step_key=item.step_key, text_key=followup.text_key, kind=followup.kind,
                    due_at=followup.due_at, expires_at=followup.expires_at, attempts=0, session_number=args.number,
                    series_length=length, session_at=session_at, protocol_name=protocol.name)
                text = re.sub(r"<[^>]+>", "", render_nudge(claimed, catalog=catalog, clinic=clinic))
                print("\n".join("      " + line for line in text.splitlines()) + "\n")
    return 0


def _after_series_lines(item, *, protocol, catalog, locale: str, settings: Settings) -> list[str]:
    """Under an outcome step, its scale (worse answers marked) and when it goes; under a review step, its link."""
    from jobs.buttons import scale_label
    from messages.protocol import KIND_OUTCOME, KIND_REVIEW

    if item.kind == KIND_OUTCOME:
        scale = protocol.step_scale(item.step_key)
        answers = " · ".join(scale_label(scale, answer, catalog=catalog, locale=locale)
                             + (" (worse: to staff)" if answer in scale.worse else "") for answer in scale.answers)
        hours = "" if settings.clinic_hours.always_open else f"; sent only in clinic hours ({settings.clinic_hours})"
        lines = [f"↳ answers on scale {scale.name!r}{hours}:", f"  {answers}"]
        step = protocol.step(item.step_key)
        if step is not None and step.photo:
            lines.append("↳ then a photo in the same light as the day-3 one, to compare before and after: only with "
                         "the patient's consent, asked once before the first such photo (no consent: no photo)")
        return lines
    if item.kind == KIND_REVIEW:
        if not settings.review_url:
            return ["↳ skipped: REVIEW_URL is not set"]
        counted = "through the redirect, counted as opened" if settings.review_redirect else "opened is not counted"
        return [f"↳ to every patient, whatever they answered: {settings.review_url} ({counted})"]
    return []


def _api_key(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.app import load_messages
    from jobs.ops.api_keys import create_key, list_keys, revoke_key
    from jobs.refusal import Refusal
    from jobs.storage.db import Store, make_engine, migrate

    settings = Settings.from_env(env, require_token=False)
    if args.action != "list" and not args.name:
        print(f"aftercare: api-key {args.action}: name the key, e.g. aftercare api-key {args.action} booking-system",
              file=sys.stderr)
        return 2
    catalog = load_messages(settings)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        store = Store(engine)
        now = datetime.now(UTC)
        if args.action == "create":
            key = store.call(create_key, name=args.name, now=now)
            print(key)
            print(f"api key {args.name!r} created: it is shown only now, keep it in the system that calls the API",
                  file=sys.stderr)
        elif args.action == "revoke":
            revoked = store.call(revoke_key, name=args.name, now=now)
            print(f"api key {args.name!r} " + ("revoked" if revoked else "was already revoked"))
        else:
            for key in store.call(list_keys):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
                print(f"{key.name:<32} created {key.created_at:%Y-%m-%d %H:%M} UTC  {state}  {used}")
    except Refusal as exc:
        print(f"aftercare: api-key: {catalog.bot('en', exc.key, **exc.values)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def setup_warnings(settings: Settings, catalog, env: Mapping[str, str]) -> list[str]:
    """What works but a clinic should fix: said by ``check`` and logged by ``run`` at start, one line each."""
    warnings = []
    if not settings.staff_ids:
        warnings.append("STAFF_IDS is empty: nobody can enroll patients yet (send /enroll to the bot to learn your id)")
    if not settings.clinic_name:
        warnings.append(f"CLINIC_NAME is not set: patients read {catalog.bot('en', 'clinic_name_missing')!r} "
                        "instead of the clinic's name; put it in .env")
    if not (env.get("CLINIC_TIMEZONE") or "").strip():
        # Unset, not merely UTC: a clinic that really is on UTC says so and is not warned.
        warnings.append("CLINIC_TIMEZONE is not set: every time patients and staff read is UTC; put the clinic's "
                        "zone in .env, e.g. CLINIC_TIMEZONE=Europe/Madrid")
    if not settings.clinic_phone:
        warnings.append("CLINIC_PHONE is not set: the red-flag texts tell patients to call "
                        f"{catalog.bot('en', 'clinic_phone_missing')!r}; put the clinic's number in .env")
    for locale in catalog.red_flags_shipped:
        warnings.append(f"texts/{locale}.toml has no [red_flags] table: patients' words are read with the "
                        "vocabulary shipped with aftercare; copy it from the shipped file to edit it")
    warnings += scale_warnings(catalog)
    for locale, keys in sorted(catalog.missing_by_locale().items()):
        instead = "staff see the step key instead" if locale == "en" else "English is used for them"
        warnings.append(f"texts/{locale}.toml lacks {len(keys)} text(s), {instead}: {', '.join(keys)}")
    return warnings


def review_line(settings: Settings, catalog) -> str:
    """What ``check`` says of review steps: where they send patients, or that they are skipped (no REVIEW_URL).

    Not a warning: a clinic may choose not to ask for reviews at all, and the shipped protocols have the step.
    """
    from messages.protocol import KIND_REVIEW

    steps = [f"{protocol.name}: {step.key}" for protocol in sorted(catalog.protocols.values(), key=lambda p: p.name)
             for step in protocol.steps if step.kind == KIND_REVIEW]
    if not steps:
        return "reviews: no protocol has a review step"
    if not settings.review_url:
        return f"reviews: REVIEW_URL is not set, so these review steps are skipped: {'; '.join(steps)}"
    counted = ("opened counted through the HTTP side's /r/ redirect" if settings.review_redirect
               else "opened not counted (set PUBLIC_URL with HTTP_PORT to count it)")
    return f"reviews: {len(steps)} review step(s) send every patient they reach to {settings.review_url}; {counted}"


def scale_warnings(catalog) -> list[str]:
    """A protocol's own outcome scale lacking labels in a locale the texts have (English is shown)."""
    from messages.protocol import KIND_OUTCOME

    warnings = []
    for protocol in sorted(catalog.protocols.values(), key=lambda p: p.name):
        for name in sorted({step.scale for step in protocol.steps if step.kind == KIND_OUTCOME and step.scale}):
            scale = protocol.scale(name)
            for locale in catalog.locales:
                lacking = [answer for answer in scale.answers if locale not in scale.labels.get(answer, {})]
                if scale.labels and lacking:
                    warnings.append(f"protocol {protocol.name!r}, scale {name!r}: no {locale!r} label for "
                                    f"{', '.join(lacking)} (English shown)")
    return warnings


def _check(env: dict[str, str], *, telegram: bool = False, env_file: Path | None = None) -> int:
    import asyncio

    from bot.app import load_messages
    from jobs.storage.db import (
        current_revision,
        head_revision,
        known_revisions,
        make_engine,
        sqlite_file,
        sqlite_files,
    )

    settings = Settings.from_env(env)
    catalog = load_messages(settings)
    admins = len(settings.staff_ids)
    print(f"settings: ok (clinic zone {settings.clinic_timezone.key}, {admins} admin{'' if admins == 1 else 's'})")
    print(f"messages: ok ({len(catalog.protocols)} protocols, locales {', '.join(catalog.locales)})")
    print(review_line(settings, catalog))
    _warn_if_readable(env_file, "holds the bot token")
    database_file = sqlite_file(settings.database_url)
    if database_file is not None and not database_file.exists():
        # Checking must not leave an empty file behind: the first `run` creates and migrates it.
        print(f"database: none yet ({database_file}); `aftercare run` creates it")
    else:
        engine = make_engine(settings.database_url)
        try:
            current, head = current_revision(engine), head_revision(engine)
        finally:
            engine.dispose()
        print(f"database: reachable ({engine.url.get_backend_name()}), schema {current or 'empty'}, "
              f"code expects {head}")
        for path in sqlite_files(engine):
            _warn_if_readable(path, "holds patient data")
        if current is None:
            print("database: empty; `aftercare run` (or `aftercare db upgrade`) creates the schema")
        elif current == head:
            _print_health(settings)
        elif current not in known_revisions(engine):
            print(f"aftercare: database: the schema ({current}) is newer than this version of the bot knows "
                  f"({head}): install the version that migrated it", file=sys.stderr)
            return 1
        else:
            print("aftercare: database: the schema is behind; `aftercare run` or `aftercare migrate` migrates it",
                  file=sys.stderr)
            return 1
    for warning in setup_warnings(settings, catalog, env):
        print(f"aftercare: warning: {warning}", file=sys.stderr)
    _print_console(settings)
    if telegram:
        return asyncio.run(_check_telegram(settings))
    return 0


def _print_console(settings: Settings) -> None:
    """Where staff open the console, and whether Telegram will open it as a Mini App (HTTPS only)."""
    if settings.http_port is None:
        print("console: off (HTTP_PORT is not set)")
        return
    source = "PUBLIC_URL" if settings.public_url else "HTTP_LISTEN:HTTP_PORT, PUBLIC_URL is not set"
    print(f"console: {settings.console_base}/console/ ({source})")
    if not settings.console_over_https:
        print("aftercare: warning: the console is not on https: Telegram opens Mini Apps only over HTTPS, so "
              "/console gives sign-in links for a browser only (put an https reverse proxy in front and set "
              "PUBLIC_URL)", file=sys.stderr)


def _print_health(settings: Settings) -> None:
    """The dispatcher's heartbeat and the queue, judged as GET /healthz judges them (jobs/ops/health.py)."""
    from jobs.ops.health import health_report
    from jobs.storage.db import Store, make_engine

    engine = make_engine(settings.database_url)
    try:
        report = Store(engine).call(health_report, now=datetime.now(UTC))
    finally:
        engine.dispose()
    beat = f"{report.heartbeat_at:%Y-%m-%d %H:%M} UTC" if report.heartbeat_at else "never"
    print(f"dispatcher: last heartbeat {beat}; {report.pending} pending, {report.due} due now, {report.failed} failed")
    for problem in report.problems:
        # Not an error for check: the bot may simply not be running while it is set up.
        print(f"aftercare: note: {problem} (GET /healthz answers 503 while this holds)", file=sys.stderr)


def _warn_if_readable(path: Path | None, what: str) -> None:
    """Warn when other users of this machine may read ``path`` (it holds secrets or patient data)."""
    for warning in file_mode_warnings([(path, what)]):
        print(f"aftercare: warning: {warning}", file=sys.stderr)


def file_mode_warnings(paths: list[tuple[Path | None, str]]) -> list[str]:
    """One line per ``(path, what it holds)`` that other users of this machine may open (``check`` prints
    them, ``run`` logs them at start)."""
    warnings = []
    for path, what in paths:
        try:
            mode = path.stat().st_mode if path is not None else 0
        except OSError:
            continue
        if mode & 0o077:
            warnings.append(f"{path} {what} and other users of this machine can open it "
                            f"(mode {mode & 0o777:04o}): run  chmod 600 {path}")
    return warnings


async def _check_telegram(settings: Settings) -> int:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    root = settings.telegram_api_base_url
    kwargs = {"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot"} if root else {}
    try:
        async with Bot(settings.bot_token, **kwargs) as bot:
            print(f"telegram: ok, the bot is @{bot.username}")
            if settings.staff_chat_id is not None:
                await _check_staff_chat(bot, settings.staff_chat_id)
    except InvalidToken:
        print("aftercare: BOT_TOKEN: Telegram rejected this token", file=sys.stderr)
        return 2
    except NetworkError as exc:
        print(f"aftercare: cannot reach the Bot API at {root or 'api.telegram.org'}: {exc.message}", file=sys.stderr)
        return 3
    return 0


async def _check_staff_chat(bot, chat_id: int) -> None:
    """Say whether STAFF_CHAT_ID is a forum and whether the bot may make a topic per patient there (warnings only)."""
    from telegram.error import TelegramError

    try:
        chat = await bot.get_chat(chat_id)
        if not chat.is_forum:
            print("staff chat: ok (topics off: alerts go to the chat, staff answer by replying)")
            return
        member = await bot.get_chat_member(chat_id, bot.id)
    except TelegramError as exc:
        print(f"aftercare: warning: STAFF_CHAT_ID: Telegram says {exc.message!r} (is the bot in that group, "
              "and is the id current? a group gets a new id when topics are turned on)", file=sys.stderr)
        return
    if getattr(member, "can_manage_topics", False):
        print("staff chat: ok, a forum: each patient gets a topic of their own")
    else:
        print("aftercare: warning: STAFF_CHAT_ID is a forum, but the bot may not manage topics: make it an "
              "administrator with 'Manage topics' (until then alerts go to General)", file=sys.stderr)


def _db(env: dict[str, str], args: argparse.Namespace) -> int:
    from jobs.storage.db import current_revision, head_revision, make_engine, migrate

    settings = Settings.from_env(env, require_token=False)
    engine = make_engine(settings.database_url)
    if args.action == "copy-to":
        return _copy_to(engine, args)
    if args.action == "upgrade":
        migrate(engine)
    print(f"current: {current_revision(engine) or 'empty'} (head: {head_revision(engine)})")
    return 0


def _copy_to(source, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import ArgumentError

    from bot.services import utc_now
    from jobs.data.transfer import TransferError, copy_database
    from jobs.storage.db import make_engine

    if not args.url:
        print("aftercare: db copy-to: give the target database URL, e.g. "
              "postgresql+psycopg://user:password@host:5432/aftercare", file=sys.stderr)
        return 2
    try:
        target = make_engine(args.url)
    except ArgumentError:
        print("aftercare: db copy-to: the target is not a database URL", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        print(f"aftercare: db copy-to: the target's driver ({exc.name}) is not installed; for PostgreSQL "
              'install the postgres extra: pip install ".[postgres]"', file=sys.stderr)
        return 2
    if target.url == source.url:
        print("aftercare: db copy-to: the target is the database DATABASE_URL already names", file=sys.stderr)
        return 2
    try:
        report = copy_database(source, target, now=utc_now(), even_if_running=args.even_if_running)
    except TransferError as exc:
        print(f"aftercare: db copy-to: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # either database; the URLs may hold passwords, so not them
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        print(f"aftercare: db copy-to: nothing copied: {reason}", file=sys.stderr)
        return 2
    for table, count in report.rows.items():
        print(f"  {table:<14} {count:>9,} rows")
    print(f"copied {report.total:,} rows to {target.url.render_as_string(hide_password=True)}; "
          "set DATABASE_URL to it and start the bot")
    return 0


def _bot_username(settings: Settings) -> str | None:
    """The bot's @username, asked from Telegram (getMe); None (and a line saying why) if it cannot be."""
    import asyncio

    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    if not settings.bot_token:
        print("aftercare: import: BOT_TOKEN is not set: give --bot-username", file=sys.stderr)
        return None
    root = settings.telegram_api_base_url
    kwargs = {"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot"} if root else {}

    async def ask() -> str:
        async with Bot(settings.bot_token, **kwargs) as bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except InvalidToken:
        print("aftercare: BOT_TOKEN: Telegram rejected this token", file=sys.stderr)
    except NetworkError as exc:
        print(f"aftercare: cannot reach the Bot API at {root or 'api.telegram.org'} ({exc.message}): "
              "give --bot-username", file=sys.stderr)
    return None


def _import(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.app import load_messages
    from bot.bulk_import import run_import
    from bot.services import utc_now

    settings = Settings.from_env(env, require_token=False)
    catalog = load_messages(settings)
    engine = cli_ops.database_at_head(settings)
    if engine is None:
        return 2
    try:
        outcome = run_import(
            Path(args.file), engine=engine, settings=settings, catalog=catalog, bot_username=args.bot_username,
            now=utc_now(), out_dir=Path(args.out) if args.out else None, check_only=args.check, cards=args.cards,
            complain=lambda line: print(line, file=sys.stderr), resolve_username=lambda: _bot_username(settings))
    finally:
        engine.dispose()
    return outcome.status


def _cards(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.app import load_messages
    from bot.bulk_import import cards_from_rows, cards_warnings
    from bot.invite_sheets import FontChoice, create_private, invite_cards_pdf, read_invite_csv
    from jobs.data.targets import target_taken

    settings = Settings.from_env(env, require_token=False)
    catalog = load_messages(settings)
    source = Path(args.file)
    target = Path(args.out) if args.out else source.with_suffix(".pdf")
    try:
        rows = read_invite_csv(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"aftercare: cards: {source}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    if (taken := target_taken(target)) is not None:
        print(f"aftercare: cards: {taken} (--out)", file=sys.stderr)
        return 2

    def expiry(text: str):
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    cards = cards_from_rows(((row["name"], row["invite_url"], row.get("lang") or "", expiry(row.get("expires_at", "")),
                              row.get("patient_id") or "") for row in rows), settings=settings, catalog=catalog)
    data, report = invite_cards_pdf(cards, fonts=FontChoice(settings.card_fonts))
    create_private(target, data)
    print(f"invite cards to print: {target} ({report.pages} page(s), {len(cards)} cards)")
    for line in cards_warnings(report, invites=source):
        print(f"aftercare: warning: {line}", file=sys.stderr)
    return 0


def outcome_scales(catalog, locale: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Each protocol's outcome scales as (code, label in ``locale``), for the FHIR Questionnaires."""
    from jobs.buttons import scale_label
    from messages.protocol import KIND_OUTCOME

    return {(protocol.name, scale.name): [(answer, scale_label(scale, answer, catalog=catalog, locale=locale))
                                          for answer in scale.answers]
            for protocol in catalog.protocols.values()
            for scale in (protocol.scale(step.scale) for step in protocol.steps if step.kind == KIND_OUTCOME)}


def _export(env: dict[str, str], args: argparse.Namespace) -> int:
    from functools import partial

    from bot.app import load_messages
    from bot.services import utc_now
    from jobs.data.exporting import ExportError, export_csv, export_fhir
    from jobs.dispatch import ClinicInfo
    from jobs.dispatch.render import render_stored

    settings = Settings.from_env(env, require_token=False)
    engine = cli_ops.database_at_head(settings)
    if engine is None:
        return 2
    try:
        if args.format == "csv":
            counts = export_csv(engine, Path(args.target), now=utc_now())
        else:
            catalog = load_messages(settings)
            # Each step by its name for staff ("Sun care"), in the staff's language.
            titles = {step.key: catalog.step_title(settings.staff_locale, step.key)
                      for protocol in catalog.protocols.values() for step in protocol.steps}
            clinic = ClinicInfo(settings.clinic_name, settings.clinic_phone, settings.booking_url)
            # Each reminder sent, with its words as the patient read them (rendered again from the texts).
            counts = export_fhir(engine, Path(args.target), now=utc_now(), titles=titles,
                                 clinic=settings.clinic_name or None,
                                 render=partial(render_stored, catalog=catalog, clinic=clinic),
                                 scales=outcome_scales(catalog, settings.staff_locale))
    except ExportError as exc:
        print(f"aftercare: export: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    for name, count in counts.items():
        print(f"  {name:<22} {count:>9,}")
    print(f"exported to {args.target} (readable by you only)")
    return 0


def _export_messages(folder: Path) -> int:
    import shutil

    from messages.catalog import DEFAULTS_DIR

    if folder.exists():
        print(f"aftercare: {folder} already exists; choose a new folder", file=sys.stderr)
        return 2
    shutil.copytree(DEFAULTS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"copied to {folder}: edit the files, then set MESSAGES_DIR={folder.resolve()} in .env")
    return 0
