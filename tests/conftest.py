"""Shared fixtures: a fake Bot API server on loopback, a movable clock, and a bot harness.

The harness runs the real python-telegram-bot ``Application`` (handlers, conversation, JobQueue
wiring) against :class:`tests.fakes.bot_api.FakeBotAPI` over real HTTP, with a database file in
the test's temporary folder. Time never passes on its own: tests move :class:`Clock` forward and
call the dispatcher themselves (the harness then runs the staff outbox's job, as the JobQueue would).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select
from telegram import Update

from bot.app import build_application, build_services
from bot.delivery import dispatch_rounds, run_dispatch
from bot.outbox import outbox_rounds
from bot.settings import Settings
from jobs.dispatch import ChatPacer
from jobs.staff.outbox import StaffPacer, StaffPacing
from tests.fakes.bot_api import FakeBotAPI

CLINIC_ZONE = ZoneInfo("Europe/Madrid")
STAFF_ID = 1001
PATIENT_ID = 2002
OTHER_ID = 3003
SESSION_START = datetime(2026, 11, 24, 15, 30, tzinfo=CLINIC_ZONE)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set_local(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Jump to a wall-clock time in the clinic's zone, ``day`` days after SESSION_START's date."""
        date = SESSION_START.date() + timedelta(days=day)
        self.now = datetime(date.year, date.month, date.day, hour, minute, tzinfo=CLINIC_ZONE)
        return self.now


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs the CLI in-process configures logging (basicConfig onto pytest's captured stderr,
    closed when the test ends): put the root logger back, so later tests log nowhere closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def fake_api():
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock(SESSION_START)


# --------------------------------------------------------------------------- the test database
#
# SQLite by default: a file in the test's temporary folder. With AFTERCARE_TEST_DB=postgres every
# test that asks for ``database_url`` gets a database of its own on the PostgreSQL server below,
# created empty from template0 and dropped (WITH (FORCE), so a leaked pooled connection cannot keep
# it alive) when the test ends: nothing one test writes -- rows, the alembic_version table, the
# schema itself -- can be seen by another, and runs on the same server never collide (the names
# are unique). Tests that are about PostgreSQL itself ask for ``postgres_url`` instead and get
# such a database whatever AFTERCARE_TEST_DB says. When the server is unreachable those tests are
# skipped with the reason, except under CI=true, where they fail: CI must not go green on SQLite
# alone.

TEST_DB_ENV = "AFTERCARE_TEST_DB"
POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER = "127.0.0.1", 5432, "postgres"
POSTGRES_TEST_DB_PREFIX = "aftercare_test_"
# A database left behind by a run that was killed is dropped by a later run once it is this old
# and the process that made it is gone (the name carries both).
POSTGRES_STALE_AFTER = timedelta(hours=2)
_postgres_problem: list[str | None] = []  # one entry once checked: None, or why it is unusable


def selected_backend() -> str:
    """``"sqlite"`` or ``"postgres"``: the database behind the ``database_url`` fixture."""
    value = os.environ.get(TEST_DB_ENV, "").strip().lower()
    if value in ("", "sqlite"):
        return "sqlite"
    if value in ("postgres", "postgresql"):
        return "postgres"
    raise pytest.UsageError(f"{TEST_DB_ENV}={value!r}: use 'sqlite' (the default) or 'postgres'")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def postgres_url_for(database: str) -> str:
    """The application's DATABASE_URL for ``database`` on the test server."""
    return f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _postgres_admin():
    """An autocommit connection to the ``postgres`` maintenance database (CREATE/DROP DATABASE)."""
    import psycopg

    return psycopg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER,
                           dbname="postgres", autocommit=True, connect_timeout=3)


def _check_postgres() -> str | None:
    """None if the test server is usable, else why not (checked once per session)."""
    if not _postgres_problem:
        try:
            with _postgres_admin() as admin:
                _drop_stale_test_databases(admin)
            problem = None
        except ImportError as exc:
            problem = f"psycopg is not installed ({exc})"
        except Exception as exc:  # noqa: BLE001 - any reason at all is reported, not raised
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            problem = f"{type(exc).__name__}: {first_line}"
        _postgres_problem.append(problem)
    return _postgres_problem[0]


def require_postgres() -> None:
    """Skip this test when the PostgreSQL test server is unreachable -- or fail it under CI=true."""
    problem = _check_postgres()
    if problem is None:
        return
    reason = f"PostgreSQL not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}: {problem}"
    if in_ci():
        pytest.fail(f"{reason} (CI=true: PostgreSQL is required)", pytrace=False)
    pytest.skip(reason)


def _drop_stale_test_databases(admin) -> None:
    """Drop test databases of runs that died without cleaning up (never one of a live run)."""
    from psycopg import sql

    names = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                          (POSTGRES_TEST_DB_PREFIX + "%",)).fetchall()
    cutoff = time.time() - POSTGRES_STALE_AFTER.total_seconds()
    for (name,) in names:
        match = re.fullmatch(re.escape(POSTGRES_TEST_DB_PREFIX) + r"(\d+)_(\d+)_[0-9a-f]+", name)
        if not match or int(match.group(1)) > cutoff or _process_alive(int(match.group(2))):
            continue
        try:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except Exception:  # noqa: BLE001 - someone else's leftovers are not worth failing a run for
            pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database of our own on the test server; yield its URL; drop it after."""
    from psycopg import sql

    name = f"{POSTGRES_TEST_DB_PREFIX}{int(time.time())}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _postgres_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
                      .format(sql.Identifier(name)))
    try:
        yield postgres_url_for(name)
    finally:
        with _postgres_admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, whatever AFTERCARE_TEST_DB says."""
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """The test's own empty database: SQLite by default, PostgreSQL with AFTERCARE_TEST_DB=postgres."""
    if selected_backend() == "sqlite":
        yield f"sqlite:///{tmp_path / 'aftercare.db'}"
        return
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    selected_backend()  # a misspelt AFTERCARE_TEST_DB stops the run instead of quietly testing SQLite


SYSTEM_TESTS = Path(__file__).resolve().parent / "system"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/system/ (real processes: crashes, kill -9, several instances, fuzz) is slow."""
    for item in items:
        if SYSTEM_TESTS in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> str:
    if selected_backend() == "sqlite":
        return f"database: SQLite, a file per test ({TEST_DB_ENV}=postgres for PostgreSQL)"
    return (f"database: PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}, a fresh database per test "
            f"({TEST_DB_ENV}=postgres{', CI: required' if in_ci() else ''})")


def bot_env(api: FakeBotAPI, database_url: str, **overrides: str) -> dict[str, str]:
    """The settings a clinic would put in .env, pointed at the fake server."""
    env = {
        "BOT_TOKEN": api.token,
        "STAFF_IDS": str(STAFF_ID),
        "DATABASE_URL": database_url,
        "CLINIC_NAME": "Clínica Sol",
        "CLINIC_PHONE": "+34 600 000 000",
        "CLINIC_TIMEZONE": CLINIC_ZONE.key,
        "TELEGRAM_API_BASE_URL": api.root_url,
    }
    env.update(overrides)
    return env


class BotHarness:
    """One bot process, as far as Telegram and the database can tell."""

    def __init__(self, api: FakeBotAPI, env: dict[str, str], clock: Clock) -> None:
        self.api, self.env, self.clock = api, env, clock
        self.app = None
        self.services = None

    async def start(self) -> BotHarness:
        settings = Settings.from_env(self.env)
        self.services = build_services(settings, clock=self.clock)
        # Pacing between two messages to one chat would sleep a real second; its own tests cover it.
        self.services.pacer = ChatPacer(0)
        # The staff outbox's pacing too (it paces by this clock, which moves only when a test says):
        # tests of pacing set their own (tests/bot/test_staff_outbox.py).
        self.services.staff_pacer = StaffPacer(StaffPacing(group_limit=0, gap=timedelta(0)))
        self.app = build_application(settings, self.services)
        await self.app.initialize()
        return self

    async def stop(self) -> None:
        if self.app is not None:
            await self.app.shutdown()
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def send(self, user_id: int, text: str, **kwargs) -> None:
        """A user sends ``text`` to the bot (a private chat unless chat_id/chat_type say otherwise)."""
        await self.process(self.api.message_update(user_id=user_id, text=text, **kwargs))

    async def press(self, user_id: int, data: str, message_id: int, **kwargs) -> None:
        """A user presses an inline button carrying ``data``."""
        await self.process(self.api.callback_update(user_id=user_id, data=data, message_id=message_id, **kwargs))

    async def process(self, raw: dict) -> None:
        """Handle one update as the intake worker does; then, if a handler woke the dispatcher job,
        run it as the JobQueue would at once (the JobQueue is not running in these tests)."""
        await self.app.process_update(Update.de_json(raw, self.app.bot))
        if self.services.dispatch_wanted:
            await dispatch_rounds(self.services, self.app.bot)
        await self.send_notices()

    async def dispatch(self):
        """One dispatcher pass at the clock's time, then the staff notices it queued (as their job would)."""
        report = await run_dispatch(self.services, self.app.bot)
        await self.send_notices()
        return report

    async def rounds(self):
        """The dispatcher job's passes (reports to staff, topics to settle), then the staff outbox's."""
        await dispatch_rounds(self.services, self.app.bot)
        await self.send_notices()

    async def send_notices(self):
        """The staff outbox's job, if something woke it: the notices whose turn has come at the clock's time."""
        if self.services.outbox_wanted:
            return await outbox_rounds(self.services, self.app.bot)
        return None

    async def enroll(self, text: str = "/enroll Anna K") -> str:
        """Staff enroll a patient; return the invite token from the reply."""
        await self.send(STAFF_ID, text)
        caption = self.api.sent_messages(STAFF_ID)[-1].params.get("caption", "")
        match = re.search(r"\?start=([A-Za-z0-9_-]+)", caption)
        assert match, f"no invite link in the reply: {caption!r}"
        return match.group(1)

    async def link(self, enroll_text: str = "/enroll Anna K", *, user_id: int = PATIENT_ID,
                   language_code: str = "en") -> str:
        """Enroll a patient and link them from ``user_id``'s chat; return the token."""
        token = await self.enroll(enroll_text)
        await self.send(user_id, f"/start {token}", language_code=language_code)
        return token

    def buttons(self, chat_id: int, index: int = -1) -> tuple[int, list[str]]:
        """(message id, callback data of each button) of a message the bot sent to ``chat_id``."""
        call = self.api.sent_messages(chat_id)[index]
        markup = call.params.get("reply_markup") or {}
        data = [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]
        return self.api.sent_messages(chat_id).index(call) + 1, data

    def session(self) -> Session:
        return Session(self.services.store.engine)

    def rows(self, model, *where):
        with self.session() as session:
            return session.exec(select(model).where(*where)).all()


@pytest.fixture
async def harness(fake_api, database_url, clock):
    bot = BotHarness(fake_api, bot_env(fake_api, database_url), clock)
    await bot.start()
    yield bot
    await bot.stop()
