"""The ``aftercare`` commands of the one who runs the server: ``audit``, ``backup``, ``restore``, ``migrate``.

Kept apart from ``bot/cli.py`` (running, checking, importing) so each stays readable. Every
command here acts as the operator at the shell (``jobs.ops.audit.ActorKind.OPERATOR``), which
``bot.cli`` sets for every command it runs.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.settings import Settings


def add_parsers(commands) -> None:
    """The subcommands of this module, on the ``aftercare`` parser's subparsers."""
    audit = commands.add_parser("audit", help="print the audit trail (who saw or changed which patient's record), "
                                "or verify its hash chain")
    audit.add_argument("action", nargs="?", choices=["verify"],
                       help="verify: walk the hash chain; exit 1 naming the first row that does not match")
    audit.add_argument("--patient", type=int, help="only rows about this patient number")
    audit.add_argument("--staff", type=int, help="only rows by (or about) this Telegram user id")
    audit.add_argument("--since", help='only rows from this day on, e.g. "2026-12-01" (clinic time)')
    backup = commands.add_parser("backup", help="copy the database to FILE while the bot runs (readable by you only)")
    backup.add_argument("file", help="a new file, e.g. /var/backups/aftercare/2026-12-06.db")
    restore = commands.add_parser("restore", help="put a backup back, into an empty database (checked first)")
    restore.add_argument("file", help="a file made by aftercare backup")
    restore.add_argument("--force", action="store_true", help="replace a database that already holds data")
    commands.add_parser("migrate", help="bring the database's schema up to this version (as `run` does on start)")


def run(command: str, env: dict[str, str], args: argparse.Namespace) -> int | None:
    """Run ``command`` if it is one of this module's; None if it is not."""
    handlers = {"audit": _audit, "backup": _backup, "restore": _restore, "migrate": _migrate}
    handler = handlers.get(command)
    return handler(env, args) if handler is not None else None


def database_at_head(settings: Settings):
    """The engine of DATABASE_URL, which must be at the current schema; None (said why) otherwise."""
    from jobs.storage.db import current_revision, head_revision, make_engine, sqlite_file

    database_file = sqlite_file(settings.database_url)
    if database_file is not None and not database_file.exists():
        print(f"aftercare: DATABASE_URL: no database yet ({database_file}); `aftercare migrate` creates it",
              file=sys.stderr)
        return None
    engine = make_engine(settings.database_url)
    if current_revision(engine) != head_revision(engine):
        print("aftercare: database: the schema is behind; run `aftercare migrate` first", file=sys.stderr)
        engine.dispose()
        return None
    return engine


def _engine(settings: Settings, *, current: bool = True):
    from jobs.storage.db import make_engine

    return database_at_head(settings) if current else make_engine(settings.database_url)


def _audit(env: dict[str, str], args: argparse.Namespace) -> int:
    from jobs.ops import audit
    from jobs.storage.db import Store

    settings = Settings.from_env(env, require_token=False)
    engine = _engine(settings)
    if engine is None:
        return 2
    zone = settings.clinic_timezone
    try:
        since = _day(args.since, zone) if args.since else None
    except ValueError:
        print(f"aftercare: audit: --since: cannot read {args.since!r}: use e.g. 2026-12-01", file=sys.stderr)
        engine.dispose()
        return 2
    store = Store(engine)
    try:
        if args.action == "verify":
            result = store.call(audit.verify)
            if not result.ok:
                print(f"aftercare: audit: row {result.broken_at} does not match: {result.reason}; "
                      f"the {result.rows:,} rows before it verify", file=sys.stderr)
                return 1
            print(f"audit trail: {result.rows:,} rows verify; head {result.head}")
            return 0
        rows = store.call(audit.events, patient_id=args.patient, actor_id=args.staff, since=since)
        names = store.call(_staff_names)
    finally:
        engine.dispose()
    for row in rows:
        print(_line(row, names=names, zone=zone, admins=settings.staff_ids))
    print(f"{len(rows):,} rows (times in {zone.key})", file=sys.stderr)
    return 0


def _day(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _staff_names(session) -> dict[int, str]:
    from jobs.staff.membership import staff_members

    return {member.user_id: member.name for member in staff_members(session) if member.name}


def _line(row, *, names: dict[int, str], zone: ZoneInfo, admins: frozenset[int]) -> str:
    """One row as a person reads it: clinic time, who (named when we can), what, about whom, how it ended."""
    if row.actor == "person":
        name = names.get(row.actor_id) or row.actor_name or ("admin" if row.actor_id in admins else "")
        who = f"{name} ({row.actor_id})" if name else f"user {row.actor_id}"
    elif row.actor == "patient":
        who = "the patient"
    else:
        who = f"{row.actor} {row.actor_name}" if row.actor_name else row.actor
    about = []
    if row.patient_id is not None:
        about.append(f"patient {row.patient_id}")
    if row.subject:
        subject = row.subject
        if row.action in ("staff_added", "staff_removed") and subject.isdigit() and int(subject) in names:
            subject = f"{names[int(subject)]} ({subject})"
        about.append(subject)
    if row.count is not None:
        about.append(f"{row.count:,} patients" if row.action in ("export", "import") else f"{row.count:,} rows")
    return (f"{row.id:>7}  {row.at.astimezone(zone):%Y-%m-%d %H:%M:%S}  {row.face:<7} {who[:36]:<36} "
            f"{row.action:<15} {', '.join(about) or '-':<24} {row.outcome}")


def _backup(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.services import utc_now
    from jobs.ops import audit
    from jobs.ops.backup import backup
    from jobs.storage.db import Store

    settings = Settings.from_env(env, require_token=False)
    engine = _engine(settings)
    if engine is None:
        return 2
    target = Path(args.file)
    done, status = _attempt("backup", engine, lambda: (backup(engine, target, now=utc_now()),
                                                       Store(engine).call(audit.verify)))
    if done is None:
        return status
    size, trail = done
    print(f"backup: {target} ({size:,} bytes, readable by you only)")
    # Kept beside the backup, the head shows later whether the trail was rewritten since.
    print(f"audit trail head: {trail.head} ({trail.rows:,} rows" + (")" if trail.ok else
          f", broken at row {trail.broken_at}: run aftercare audit verify)"))
    return 0


def _attempt(command: str, engine, work):
    """``(work(), 0)``; a BackupError said in one line as ``(None, 2)``; the engine closed either way."""
    from jobs.ops.backup import BackupError

    try:
        return work(), 0
    except BackupError as exc:
        print(f"aftercare: {command}: {exc}", file=sys.stderr)
        return None, 2
    finally:
        engine.dispose()


def _restore(env: dict[str, str], args: argparse.Namespace) -> int:
    from bot.services import utc_now
    from jobs.ops.backup import restore

    settings = Settings.from_env(env, require_token=False)
    engine = _engine(settings, current=False)
    restored, status = _attempt("restore", engine, lambda: restore(engine, Path(args.file), now=utc_now(),
                                                                   force=args.force))
    if restored is None:
        return status
    print(f"restored {args.file}: schema {restored.revision}")
    if restored.audit.ok:
        print(f"audit trail: {restored.audit.rows:,} rows verify; head {restored.audit.head}")
    else:
        print(f"aftercare: warning: the restored audit trail does not verify at row {restored.audit.broken_at}: "
              f"{restored.audit.reason}", file=sys.stderr)
    print("start the bot (or run `aftercare migrate`) to bring the schema up to this version")
    return 0


def _migrate(env: dict[str, str], args: argparse.Namespace) -> int:
    from jobs.storage.db import current_revision, head_revision, migrate

    settings = Settings.from_env(env, require_token=False)
    engine = _engine(settings, current=False)
    try:
        migrate(engine)
        print(f"current: {current_revision(engine) or 'empty'} (head: {head_revision(engine)})")
    finally:
        engine.dispose()
    return 0
