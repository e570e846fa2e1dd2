"""Every command the bot answers, in one table: who may use it, how it is typed, where it shows.

The table drives handler registration (``bot.app``: new messages only, so an edited command never
runs again), access (``bot.app`` wraps a staff command in :func:`bot.access.staff_only`, not each
handler one by one), the command menus (``bot.menus``), ``/help`` and the test that every staff
command refuses everyone else. A new command is one line here, its callback in ``bot.app``'s
``CALLBACKS``, its ``command_<name>`` (menu) and ``helpline_<name>`` (/help) texts.

This module is data and imports no handler: the handlers (``/help``) and the menus read it, and
only the wiring binds names to callbacks, so importing any one of them alone works (STYLE.md, 17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Audience(StrEnum):
    """Who a command is for."""

    ANYONE = "anyone"  # patients and staff alike (/help) or people not yet known (/start)
    PATIENT = "patient"  # acts on the patient linked to the chat
    STAFF = "staff"  # the clinic team (admins and invited staff)
    ADMIN = "admin"  # admins only (STAFF_IDS)


@dataclass(frozen=True)
class Command:
    """One command: ``/name usage`` and its audience (its callback is bound in ``bot.app``)."""

    name: str
    audience: Audience
    usage: str = ""  # what follows the name in /help ("12" for /patient 12)
    private: bool = False  # staff commands that show secrets (an invite link) run in private chats only
    menu: bool = True  # listed in Telegram's command menu and in /help
    sample: str = ""  # arguments a test may send (the access test needs something well-formed)

    @property
    def staff_only(self) -> bool:
        return self.audience in (Audience.STAFF, Audience.ADMIN)


COMMANDS: tuple[Command, ...] = (
    Command("start", Audience.ANYONE, menu=False),
    # Patients
    Command("status", Audience.PATIENT),
    Command("pause", Audience.PATIENT),
    Command("resume", Audience.PATIENT),
    Command("timezone", Audience.PATIENT),
    Command("language", Audience.PATIENT),
    Command("stop", Audience.PATIENT),
    Command("delete", Audience.PATIENT),
    # Staff
    Command("enroll", Audience.STAFF, private=True, sample="Anna K"),
    Command("patients", Audience.STAFF),
    Command("patient", Audience.STAFF, usage="12", sample="1"),
    Command("session", Audience.STAFF, usage="12", sample="1"),
    Command("invite", Audience.STAFF, usage="12", sample="1"),
    Command("cancel", Audience.STAFF, usage="12", sample="1"),
    Command("reopen", Audience.STAFF, usage="12", sample="1"),
    Command("withdraw", Audience.STAFF, usage="12", sample="1"),
    Command("inbox", Audience.STAFF),
    Command("take", Audience.STAFF, usage="5", sample="1"),
    Command("resolve", Audience.STAFF, usage="5 note", sample="1"),
    Command("stats", Audience.STAFF),
    # A sign-in link is a secret: private chats only.
    Command("console", Audience.STAFF, private=True),
    # Admins
    Command("staffinvite", Audience.ADMIN, private=True),
    Command("staff", Audience.ADMIN),
    Command("removestaff", Audience.ADMIN, usage="123456789", sample="5"),
    # Last, so that both menus end with it.
    Command("help", Audience.ANYONE),
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
