"""Every command the bot answers, in one table: who may use it, how it is typed, where it shows.

The table drives handler registration (``bot.app``: new messages only, so an edited command never
runs again), access (a staff command is wrapped by :func:`bot.access.staff_only` here, not
decorated one by one), the command menus (``bot.menus``), ``/help`` and the test that every staff
command refuses everyone else. A new command is one line here, its ``command_<name>`` (menu) and
``helpline_<name>`` (/help) texts, and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.access import staff_only
from bot.handlers import common, console, enroll, inbox, patient, staff, start


class Audience(StrEnum):
    """Who a command is for."""

    ANYONE = "anyone"  # patients and staff alike (/help) or people not yet known (/start)
    PATIENT = "patient"  # acts on the patient linked to the chat
    STAFF = "staff"  # the clinic team (admins and invited staff)
    ADMIN = "admin"  # admins only (STAFF_IDS)


@dataclass(frozen=True)
class Command:
    """One command: ``/name usage``, its handler, its audience."""

    name: str
    callback: Callable[..., Awaitable[object]]
    audience: Audience
    usage: str = ""  # what follows the name in /help ("12" for /patient 12)
    private: bool = False  # staff commands that show secrets (an invite link) run in private chats only
    menu: bool = True  # listed in Telegram's command menu and in /help
    sample: str = ""  # arguments a test may send (the access test needs something well-formed)

    @property
    def staff_only(self) -> bool:
        return self.audience in (Audience.STAFF, Audience.ADMIN)

    def handler_callback(self) -> Callable[..., Awaitable[object]]:
        """The callback to register: staff and admin commands behind the one access check."""
        if not self.staff_only:
            return self.callback
        return staff_only(self.callback, private=self.private, admin=self.audience is Audience.ADMIN)


COMMANDS: tuple[Command, ...] = (
    Command("start", start.start_command, Audience.ANYONE, menu=False),
    # Patients
    Command("status", patient.status_command, Audience.PATIENT),
    Command("pause", patient.pause_command, Audience.PATIENT),
    Command("resume", patient.resume_command, Audience.PATIENT),
    Command("timezone", patient.timezone_command, Audience.PATIENT),
    Command("language", patient.language_command, Audience.PATIENT),
    Command("stop", patient.stop_command, Audience.PATIENT),
    Command("delete", patient.delete_command, Audience.PATIENT),
    # Staff
    Command("enroll", enroll.enroll_command, Audience.STAFF, private=True, sample="Anna K"),
    Command("patients", console.patients_command, Audience.STAFF),
    Command("patient", console.patient_command, Audience.STAFF, usage="12", sample="1"),
    Command("session", console.session_command, Audience.STAFF, usage="12", sample="1"),
    Command("invite", console.invite_command, Audience.STAFF, usage="12", sample="1"),
    Command("cancel", console.cancel_command, Audience.STAFF, usage="12", sample="1"),
    Command("reopen", console.reopen_command, Audience.STAFF, usage="12", sample="1"),
    Command("inbox", inbox.inbox_command, Audience.STAFF),
    Command("take", inbox.take_command, Audience.STAFF, usage="5", sample="1"),
    Command("resolve", inbox.resolve_command, Audience.STAFF, usage="5 note", sample="1"),
    Command("stats", console.stats_command, Audience.STAFF),
    # A sign-in link is a secret: private chats only.
    Command("console", console.console_command, Audience.STAFF, private=True),
    # Admins
    Command("staffinvite", staff.staffinvite_command, Audience.ADMIN, private=True),
    Command("staff", staff.staff_command, Audience.ADMIN),
    Command("removestaff", staff.removestaff_command, Audience.ADMIN, usage="123456789", sample="5"),
    # Last, so that both menus end with it.
    Command("help", common.help_command, Audience.ANYONE),
)


def commands_for(*audiences: Audience) -> tuple[Command, ...]:
    """The menu commands of these audiences, in the table's order."""
    return tuple(command for command in COMMANDS if command.audience in audiences and command.menu)


def staff_commands() -> tuple[Command, ...]:
    """Every staff and admin command (menu or not): what the access test tries as a stranger."""
    return tuple(command for command in COMMANDS if command.staff_only)


def help_lines(text: Callable[[str], str], commands: tuple[Command, ...]) -> list[str]:
    """One "/name usage — what it does" line per command (``text(key)`` gives the words, in a language)."""
    return [f"/{command.name}{' ' + command.usage if command.usage else ''} — {text(f'helpline_{command.name}')}"
            for command in commands if command.audience is not Audience.ANYONE]
