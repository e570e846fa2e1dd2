"""The command registry drives registration, access, the menus and /help; context and Defaults."""

from __future__ import annotations

import pytest
from telegram.ext import CommandHandler

from bot.app import CALLBACKS, command_callbacks
from bot.commands import COMMANDS, Audience, Command, commands_for
from bot.context import AftercareContext
from bot.menus import set_menus
from tests.conftest import PATIENT_ID, STAFF_ID


def test_every_registered_command_comes_from_the_registry_and_ignores_edits(harness):
    handlers = [h for group in harness.app.handlers.values() for h in group if isinstance(h, CommandHandler)]
    registered = sorted(name for handler in handlers for name in handler.commands)
    assert registered == sorted(command.name for command in COMMANDS)
    # New messages only: an edited command must not run again.
    assert all("UpdateType.MESSAGE" in repr(handler.filters) for handler in handlers)


def test_the_build_refuses_a_command_without_one_callback():
    extra = Command("ghost", Audience.STAFF)
    with pytest.raises(RuntimeError, match=r"no callback \['ghost'\]"):
        command_callbacks((*COMMANDS, extra), CALLBACKS)
    with pytest.raises(RuntimeError, match=r"listed twice \['help'\]"):
        command_callbacks((*COMMANDS, COMMANDS[-1]), CALLBACKS)
    with pytest.raises(RuntimeError, match=r"no command \['ghost'\]"):
        command_callbacks(COMMANDS, {**CALLBACKS, "ghost": CALLBACKS["help"]})
    # Staff commands are registered behind the access check, the others as they are.
    bound = dict((command.name, callback) for command, callback in command_callbacks())
    assert bound["status"] is CALLBACKS["status"] and bound["enroll"] is not CALLBACKS["enroll"]
    assert bound["enroll"].__wrapped__ is CALLBACKS["enroll"]


def test_every_command_has_its_menu_and_help_words_in_every_language(harness):
    catalog = harness.services.catalog
    for locale in catalog.locales:
        for command in COMMANDS:
            if command.menu:
                assert catalog.bot(locale, f"command_{command.name}"), (locale, command.name)
            if command.menu and command.audience is not Audience.ANYONE:
                assert catalog.bot(locale, f"helpline_{command.name}"), (locale, command.name)


async def test_menus_follow_the_registry(harness, fake_api):
    await set_menus(harness.app.bot, harness.services)  # what post_init does at start-up
    default_menus = [c for c in fake_api.calls_to("setMyCommands") if c.params.get("scope", {}).get("type") == "default"]
    assert default_menus, "the patient menu is set at start-up"
    names = [entry["command"] for entry in default_menus[0].params["commands"]]
    assert names == [c.name for c in commands_for(Audience.PATIENT, Audience.ANYONE)]
    staff_menu = [c for c in fake_api.calls_to("setMyCommands") if c.params.get("scope", {}).get("chat_id") == STAFF_ID]
    names = [entry["command"] for entry in staff_menu[-1].params["commands"]]
    # STAFF_ID is an admin: staff, admin and everyone's commands, in the registry's order.
    assert names == [c.name for c in commands_for(Audience.STAFF, Audience.ADMIN, Audience.ANYONE)]
    assert "status" not in names and "start" not in names


async def test_help_lists_each_command_of_the_reader_once(harness, fake_api):
    await harness.send(STAFF_ID, "/help")
    staff_help = fake_api.texts(STAFF_ID)[-1]
    for command in commands_for(Audience.STAFF, Audience.ADMIN, Audience.PATIENT):
        assert staff_help.count(f"\n/{command.name} ") == 1, command.name
    await harness.send(PATIENT_ID, "/help")
    patient_help = fake_api.texts(PATIENT_ID)[-1]
    for command in commands_for(Audience.PATIENT):
        assert f"\n/{command.name} — " in patient_help, command.name
    assert "/enroll" not in patient_help and "/removestaff" not in patient_help


async def test_handlers_get_the_custom_context_and_every_text_goes_as_html(harness, fake_api):
    assert harness.app.context_types.context is AftercareContext
    await harness.link()
    await harness.send(PATIENT_ID, "/status")
    await harness.send(STAFF_ID, "/patients")
    sends = fake_api.calls_to("sendMessage") + fake_api.calls_to("sendPhoto")
    assert sends and all(call.params.get("parse_mode") == "HTML" for call in sends)
