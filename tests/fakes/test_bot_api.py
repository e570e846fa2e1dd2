"""Tests of the fake Bot API server itself, driven by a real python-telegram-bot ``Bot``.

If these fail, every test built on the fake is suspect, so they pin down the behaviours the
rest of the suite relies on: the wire format, the recorded calls and PTB's error mapping for
each injected fault.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from datetime import timedelta

import pytest
import pytest_asyncio
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaDocument, InputMediaPhoto, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler
from telegram.warnings import PTBDeprecationWarning

from .bot_api import FakeBotAPI

# The smallest valid PNG (1x1, transparent); the fake only cares about the bytes.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

PATIENT = 555_000_111


@pytest_asyncio.fixture
async def api():
    async with FakeBotAPI() as fake:
        yield fake


def make_bot(api: FakeBotAPI, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(
        token or api.token,
        base_url=f"{api.root_url}/bot",
        base_file_url=f"{api.root_url}/file/bot",
    )


@pytest_asyncio.fixture
async def bot(api):
    async with make_bot(api) as real_bot:
        yield real_bot


@pytest.mark.asyncio
async def test_get_me_returns_the_bot_user(api, bot):
    me = await bot.get_me()
    assert me.username == "aftercare_test_bot"
    assert me.is_bot and me.id == 123456789 and me.can_join_groups is True
    # Bot.initialize() (the `async with`) already called getMe once.
    assert [call.method for call in api.calls] == ["getMe", "getMe"]


@pytest.mark.asyncio
async def test_send_message_is_recorded_with_decoded_params(api, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Done", callback_data="done:1")]])
    first = await bot.send_message(PATIENT, "Day 1: keep it clean", reply_markup=markup)
    second = await bot.send_message(PATIENT, "42")

    assert first.chat.id == PATIENT and first.chat.type == "private"
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.from_user.username == "aftercare_test_bot"
    assert first.reply_markup == markup

    call = api.sent_messages(PATIENT)[0]
    assert call.params["chat_id"] == PATIENT  # an int again, not the string sent on the wire
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Done", "callback_data": "done:1"}]]
    }
    # Free text stays text even when it looks like a number.
    assert api.texts(PATIENT) == ["Day 1: keep it clean", "42"]
    assert api.texts(999) == []
    # Message ids are per chat.
    assert (await bot.send_message(-100, "group")).message_id == 1


@pytest.mark.asyncio
async def test_send_photo_records_the_upload(api, bot):
    message = await bot.send_photo(PATIENT, photo=PNG_BYTES, caption="Your booking QR")

    call = api.calls_to("sendPhoto")[0]
    assert call.files["photo"] == PNG_BYTES
    assert call.params["caption"] == "Your booking QR"
    assert message.photo[0].file_size == len(PNG_BYTES)
    assert message.caption == "Your booking QR"
    assert api.texts(PATIENT) == ["Your booking QR"]
    # The upload can be downloaded again through the file URL.
    data = await bot.request.retrieve(
        f"{api.root_url}/file/bot{api.token}/photos/{message.photo[0].file_id}"
    )
    assert data == PNG_BYTES


@pytest.mark.asyncio
async def test_edit_message_text_and_callback_update(api, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(PATIENT, "Any redness?", reply_markup=markup)

    update = Update.de_json(
        api.callback_update(user_id=PATIENT, data="yes", message_id=sent.message_id), bot
    )
    assert update.callback_query.data == "yes"
    assert update.callback_query.message.text == "Any redness?"
    assert update.effective_chat.id == PATIENT

    edited = await bot.edit_message_text("Thanks!", chat_id=PATIENT, message_id=sent.message_id)
    assert edited.text == "Thanks!" and edited.reply_markup is None
    assert await bot.answer_callback_query(update.callback_query.id) is True
    assert api.calls_to("answerCallbackQuery")[0].params["callback_query_id"] == "cbq-1"


@pytest.mark.asyncio
async def test_forbidden(api, bot):
    api.fail("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(PATIENT, "hello")
    # The failure is recorded but does not count as sent; the next call succeeds again.
    assert api.calls_to("sendMessage")[0].status == 403
    assert api.texts(PATIENT) == []
    assert api.texts(PATIENT, include_failed=True) == ["hello"]
    await bot.send_message(PATIENT, "hello")
    assert api.texts(PATIENT) == ["hello"]


@pytest.mark.asyncio
async def test_fail_can_target_one_chat(api, bot):
    api.fail("sendMessage", status=403, description="Forbidden: user is deactivated", chat_id=2)
    await bot.send_message(1, "fine")
    with pytest.raises(Forbidden):
        await bot.send_message(2, "blocked")


@pytest.mark.asyncio
async def test_retry_after(api, bot):
    api.fail(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    # PTB 22.2+ deprecates the int form of retry_after and warns even while building the
    # exception (it becomes a timedelta when PTB_TIMEDELTA is set), so accept either form.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(PATIENT, "hello")
        retry_after = excinfo.value.retry_after
    assert (retry_after if isinstance(retry_after, int) else retry_after.total_seconds()) == 7


@pytest.mark.asyncio
async def test_bad_request_and_server_errors(api, bot):
    api.fail("sendMessage", status=400, description="Bad Request: chat not found")
    api.fail("sendMessage", status=502, description="Bad Gateway")
    # PTB strips Telegram's "Bad Request: " prefix and capitalises the rest.
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(PATIENT, "hello")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(PATIENT, "hello")
    # Telegram's own validation, without any injected fault.
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(PATIENT, "x" * 4097)


@pytest.mark.asyncio
async def test_wrong_token_is_invalid(api):
    bad_bot = make_bot(api, token="123456789:WRONG_token_wrong_token_wrong_tok")
    # Bot.initialize() calls getMe; on failure `async with` shuts the bot's HTTP clients down.
    with pytest.raises(InvalidToken):
        async with bad_bot:
            pass
    assert api.calls[-1].status == 401


@pytest.mark.asyncio
async def test_unknown_method_is_not_found(api, bot):
    with pytest.raises(telegram.error.EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


@pytest.mark.asyncio
async def test_hang_beyond_read_timeout_times_out(api, bot):
    api.hang("sendMessage", seconds=1.5)
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(PATIENT, "slow", read_timeout=0.2)
    assert time.monotonic() - started < 1.0
    # Only the next call hangs.
    assert (await bot.send_message(PATIENT, "fast", read_timeout=0.5)).text == "fast"


@pytest.mark.asyncio
async def test_drop_raises_network_error(api, bot):
    api.drop("sendMessage")
    with pytest.raises(NetworkError) as excinfo:
        await bot.send_message(PATIENT, "lost")
    assert not isinstance(excinfo.value, TimedOut)
    assert api.calls_to("sendMessage")[0].status is None
    assert api.texts(PATIENT) == []
    assert (await bot.send_message(PATIENT, "again")).message_id == 1


@pytest.mark.asyncio
async def test_get_updates_returns_pushed_updates_and_honours_offset(api, bot):
    api.push_update(api.message_update(user_id=PATIENT, text="/start", first_name="Ana"))

    updates = await bot.get_updates()
    assert len(updates) == 1
    update = updates[0]
    assert isinstance(update, Update)
    assert update.message.text == "/start"
    assert update.effective_user.first_name == "Ana"
    assert update.message.entities[0].type == "bot_command"

    # Like Telegram, fetching is not confirming: until a later offset is asked for, it comes again
    # (what the bot's durable intake relies on after a crash between fetching and storing).
    assert [u.update_id for u in await bot.get_updates()] == [update.update_id]
    assert [u.update_id for u in await bot.get_updates(offset=update.update_id)] == [update.update_id]
    # Confirming with offset = last id + 1 drops it for good.
    assert await bot.get_updates(offset=update.update_id + 1) == ()
    assert await bot.get_updates() == ()


@pytest.mark.asyncio
async def test_long_poll_wakes_up_on_push_and_is_capped(api, bot):
    async def push_later():
        await asyncio.sleep(0.1)
        api.push_update(api.message_update(user_id=PATIENT, text="hello"))

    started = time.monotonic()
    pusher = asyncio.create_task(push_later())
    updates = await bot.get_updates(timeout=30)
    await pusher
    assert [u.message.text for u in updates] == ["hello"]
    assert time.monotonic() - started < 0.8

    started = time.monotonic()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=30) == ()
    assert time.monotonic() - started < 1.6


@pytest.mark.asyncio
async def test_application_polling_round_trip(api):
    """The whole PTB stack: Application + Updater polling, a command handler replying."""

    async def start(update, context):
        await update.message.reply_text(f"Welcome, {update.effective_user.first_name}")

    async def button(update, context):
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Noted")

    app = (
        Application.builder()
        .token(api.token)
        .base_url(f"{api.root_url}/bot")
        .base_file_url(f"{api.root_url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    api.push_update(api.message_update(user_id=PATIENT, text="/start", first_name="Ana"))

    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0)
        for _ in range(100):
            if api.texts(PATIENT):
                break
            await asyncio.sleep(0.02)
        api.push_update(api.callback_update(user_id=PATIENT, data="ok", message_id=1))
        for _ in range(100):
            if api.calls_to("editMessageText"):
                break
            await asyncio.sleep(0.02)
        await app.updater.stop()
        await app.stop()

    assert api.texts(PATIENT) == ["Welcome, Ana"]
    assert api.calls_to("editMessageText")[0].params["text"] == "Noted"
    assert api.calls_to("answerCallbackQuery")


# ------------------------------------------------------------------ as strict as Telegram


@pytest.mark.asyncio
async def test_texts_and_captions_past_telegrams_limits_are_refused(api, bot):
    await bot.send_message(PATIENT, "x" * 4096)
    await bot.send_message(PATIENT, "&lt;" * 4096, parse_mode="HTML")  # an entity counts as one character
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.send_message(PATIENT, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.send_message(PATIENT, "😀" * 2049)  # UTF-16 code units, as Telegram counts
    await bot.send_photo(PATIENT, photo="photo-x", caption="y" * 1024)
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.send_photo(PATIENT, photo="photo-x", caption="y" * 1025)
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.copy_message(PATIENT, from_chat_id=PATIENT, message_id=1, caption="y" * 1025)
    assert len(api.sent_messages(PATIENT)) == 3  # a refused send makes no message


@pytest.mark.asyncio
@pytest.mark.parametrize("html", ["a < b", "fish & chips", "<b>open", "<b>x</i>", "<script>x</script>", "&nbsp;"])
async def test_html_telegram_cannot_parse_is_refused(api, bot, html):
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(PATIENT, html, parse_mode="HTML")
    await bot.send_message(PATIENT, html)  # the same text without a parse mode is fine


@pytest.mark.asyncio
async def test_callback_data_over_64_bytes_is_refused(api, bot):
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="é" * 32)]])  # 64 bytes
    await bot.send_message(PATIENT, "pick", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(PATIENT, "pick", reply_markup=too_long)
    assert len(api.sent_messages(PATIENT)) == 1


@pytest.mark.asyncio
async def test_a_callback_query_is_answered_once_with_at_most_200_characters(api, bot):
    first = api.callback_update(user_id=PATIENT, data="x", message_id=1)["callback_query"]["id"]
    second = api.callback_update(user_id=PATIENT, data="y", message_id=1)["callback_query"]["id"]
    assert api.unanswered_callbacks() == {first, second}
    with pytest.raises(BadRequest, match="(?i)MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(first, text="z" * 201)
    await bot.answer_callback_query(first, text="z" * 200)
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await bot.answer_callback_query(first)
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await bot.answer_callback_query("never-sent")
    assert api.unanswered_callbacks() == {second}


@pytest.mark.asyncio
async def test_an_edit_that_changes_nothing_is_refused(api, bot):
    message = await bot.send_message(PATIENT, "same")
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("same", chat_id=PATIENT, message_id=message.message_id)
    await bot.edit_message_text("changed", chat_id=PATIENT, message_id=message.message_id)


@pytest.mark.asyncio
async def test_a_caption_is_edited_only_on_a_message_that_has_one(api, bot):
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    photo = await bot.send_photo(PATIENT, photo="some-file-id", caption="before", reply_markup=keyboard)
    edited = await bot.edit_message_caption(chat_id=PATIENT, message_id=photo.message_id, caption="after")
    assert edited.caption == "after" and edited.reply_markup is None  # no reply_markup: the keyboard goes
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_caption(chat_id=PATIENT, message_id=photo.message_id, caption="after")
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.edit_message_caption(chat_id=PATIENT, message_id=photo.message_id, caption="x" * 1025)
    text = await bot.send_message(PATIENT, "plain")
    with pytest.raises(BadRequest, match="(?i)no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=PATIENT, message_id=text.message_id, caption="after")


def test_edited_message_updates(api):
    update = api.message_update(user_id=PATIENT, text="fixed typo", edited=True)
    assert "message" not in update and update["edited_message"]["text"] == "fixed typo"
    assert update["edited_message"]["edit_date"] >= update["edited_message"]["date"]


# --------------------------------------------------------------------------- forums and topics

FORUM = -1001500000001


@pytest.mark.asyncio
async def test_get_chat_says_whether_a_group_is_a_forum(api, bot):
    api.add_group(FORUM)
    api.add_group(FORUM - 1, forum=False)
    forum, plain, private = await bot.get_chat(FORUM), await bot.get_chat(FORUM - 1), await bot.get_chat(PATIENT)
    assert (forum.type, forum.is_forum) == ("supergroup", True)
    assert (plain.type, plain.is_forum) == ("supergroup", None)
    assert private.type == "private"
    api.set_forum(FORUM, False)
    assert (await bot.get_chat(FORUM)).is_forum is None


@pytest.mark.asyncio
async def test_a_topic_is_created_and_messages_sent_into_it_carry_its_thread(api, bot):
    api.add_group(FORUM)
    await bot.send_message(FORUM, "before")  # General: ids are the chat's, so the topic's id follows on
    topic = await bot.create_forum_topic(FORUM, "#12 Anna K")
    assert (topic.name, topic.message_thread_id) == ("#12 Anna K", 3)  # 1 is General's, 2 "before"
    assert api.topic_named(FORUM, "#12 Anna K").thread_id == 3

    sent = await bot.send_message(FORUM, "day 2 check-in: worried", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == 3 and sent.is_topic_message is True
    # Every message in a topic replies to the topic's creation message unless it replies to another.
    assert sent.reply_to_message.forum_topic_created.name == "#12 Anna K"
    photo = await bot.send_photo(FORUM, photo=PNG_BYTES, caption="a photo", message_thread_id=3)
    assert photo.is_topic_message and photo.message_thread_id == 3
    await bot.copy_message(FORUM, from_chat_id=PATIENT, message_id=5, message_thread_id=3)
    general = await bot.send_message(FORUM, "in General")
    assert general.message_thread_id is None and not general.is_topic_message
    assert api.in_topic(FORUM, 3) == ["day 2 check-in: worried", "a photo", ""]
    assert api.in_topic(FORUM, None) == ["before", "in General"]

    # A user's message in the topic, and a reply to the bot's message there.
    plain = Update.de_json(api.message_update(user_id=7, text="note", chat_id=FORUM, chat_type="supergroup",
                                              message_thread_id=3), bot).effective_message
    assert plain.is_topic_message and plain.message_thread_id == 3
    assert plain.reply_to_message.message_id == 3 and plain.chat.is_forum
    reply = Update.de_json(api.message_update(user_id=7, text="answer", chat_id=FORUM, chat_type="supergroup",
                                              reply_to_message_id=sent.message_id), bot).effective_message
    assert reply.message_thread_id == 3 and reply.reply_to_message.text == "day 2 check-in: worried"
    # The bot answering a message in the topic (as Message.reply_text does) stays in the topic.
    answer = await reply.reply_text("noted")
    assert answer.message_thread_id == 3


@pytest.mark.asyncio
async def test_topic_mistakes_are_refused_like_telegram_refuses_them(api, bot):
    api.add_group(FORUM)
    api.add_group(FORUM - 1, forum=False)
    api.add_group(FORUM - 2, bot_admin=False)
    api.add_group(FORUM - 3, can_manage_topics=False)
    with pytest.raises(BadRequest, match="(?i)not a forum"):
        await bot.create_forum_topic(FORUM - 1, "#1 A")
    with pytest.raises(BadRequest, match="(?i)not a forum"):
        await bot.create_forum_topic(-42, "#1 A")  # a plain group nobody declared
    for chat in (FORUM - 2, FORUM - 3):
        with pytest.raises(BadRequest, match="(?i)not enough rights to create a topic"):
            await bot.create_forum_topic(chat, "#1 A")
    with pytest.raises(BadRequest, match="(?i)TOPIC_TITLE_EMPTY"):
        await bot.create_forum_topic(FORUM, " ")
    with pytest.raises(BadRequest, match="(?i)TOPIC_TITLE_INVALID"):
        await bot.create_forum_topic(FORUM, "x" * 129)
    with pytest.raises(BadRequest, match="(?i)ICON_COLOR"):
        await bot.create_forum_topic(FORUM, "#1 A", icon_color=0x123456)
    assert (await bot.create_forum_topic(FORUM, "x" * 128)).name == "x" * 128
    # A thread id in a chat that is not a forum, an unknown one, General's 1: "message thread not found".
    for chat, thread in ((FORUM - 1, 1), (PATIENT, 1), (FORUM, 999), (FORUM, 1)):
        with pytest.raises(BadRequest, match="(?i)message thread not found"):
            await bot.send_message(chat, "hi", message_thread_id=thread)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.send_photo(FORUM, photo=PNG_BYTES, message_thread_id=999)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.copy_message(FORUM, from_chat_id=PATIENT, message_id=5, message_thread_id=999)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.close_forum_topic(FORUM, 999)
    assert [c.status for c in api.calls_to("sendMessage")] == [400] * 4


@pytest.mark.asyncio
async def test_close_reopen_edit_and_delete_a_topic(api, bot):
    group = api.add_group(FORUM)
    thread = (await bot.create_forum_topic(FORUM, "#12 Anna K")).message_thread_id
    assert await bot.close_forum_topic(FORUM, thread) is True
    with pytest.raises(BadRequest, match="(?i)TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(FORUM, thread)
    # The bot is an administrator with can_manage_topics: it may still post in the closed topic...
    assert (await bot.send_message(FORUM, "still here", message_thread_id=thread)).is_topic_message
    # ...and without that right it may not.
    group.can_manage_topics = False
    with pytest.raises(BadRequest, match="(?i)TOPIC_CLOSED"):
        await bot.send_message(FORUM, "refused", message_thread_id=thread)
    # It created the topic, so it may still reopen (and rename) it.
    assert await bot.reopen_forum_topic(FORUM, thread) is True
    with pytest.raises(BadRequest, match="(?i)TOPIC_NOT_MODIFIED"):
        await bot.reopen_forum_topic(FORUM, thread)
    assert await bot.edit_forum_topic(FORUM, thread, name="#12") is True
    assert api.topics(FORUM)[0].name == "#12"
    with pytest.raises(BadRequest, match="(?i)TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(FORUM, thread, name="#12")
    assert (await bot.send_message(FORUM, "open again", message_thread_id=thread)).message_thread_id == thread
    # A topic someone else made is not the bot's to close without the right.
    other = api.add_group(FORUM - 5, can_manage_topics=True)
    other_thread = (await bot.create_forum_topic(FORUM - 5, "theirs")).message_thread_id
    other.topics[other_thread].created_by = 7
    other.can_manage_topics = False
    with pytest.raises(BadRequest, match="(?i)not enough rights"):
        await bot.close_forum_topic(FORUM - 5, other_thread)
    # Deleting needs can_delete_messages; afterwards the thread is gone.
    group.can_delete_messages = False
    with pytest.raises(BadRequest, match="(?i)not enough rights"):
        await bot.delete_forum_topic(FORUM, thread)
    group.can_delete_messages = True
    assert await bot.delete_forum_topic(FORUM, thread) is True
    assert api.topics(FORUM) == []
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.send_message(FORUM, "gone", message_thread_id=thread)


@pytest.mark.asyncio
async def test_a_topic_deleted_by_a_user_or_topics_turned_off(api, bot):
    api.add_group(FORUM)
    first = (await bot.create_forum_topic(FORUM, "#1 A")).message_thread_id
    second = (await bot.create_forum_topic(FORUM, "#2 B")).message_thread_id
    api.delete_topic_by_user(FORUM, first)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.send_message(FORUM, "x", message_thread_id=first)
    with pytest.raises(ValueError):
        api.message_update(user_id=7, text="x", chat_id=FORUM, message_thread_id=first)
    api.set_forum(FORUM, False)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.send_message(FORUM, "x", message_thread_id=second)
    with pytest.raises(BadRequest, match="(?i)not a forum"):
        await bot.create_forum_topic(FORUM, "#3 C")
    assert (await bot.send_message(FORUM, "plain")).chat.is_forum is None


@pytest.mark.asyncio
async def test_get_chat_member_tells_the_bot_its_rights(api, bot):
    api.add_group(FORUM)
    api.add_group(FORUM - 1, can_manage_topics=False)
    api.add_group(FORUM - 2, bot_admin=False)
    admin = await bot.get_chat_member(FORUM, bot.id)
    assert admin.status == "administrator" and admin.can_manage_topics is True
    assert (await bot.get_chat_member(FORUM - 1, bot.id)).can_manage_topics is False
    assert (await bot.get_chat_member(FORUM - 2, bot.id)).status == "member"
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.get_chat_member(-42, bot.id)


async def test_a_group_gets_twenty_messages_a_minute_then_429_with_retry_after(api, bot):
    now = [1000.0]
    api.limit_groups(20, 60.0, clock=lambda: now[0])
    group = -100123
    for n in range(20):
        now[0] += 1
        await bot.send_message(group, f"m{n}")
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(group, "one too many")
    # The first of the 20 went at 1001, now is 1020: the window frees a place at 1061.
    assert excinfo.value.retry_after in (41, timedelta(seconds=41))
    await bot.send_message(PATIENT, "a private chat is not a group")  # not counted
    now[0] = 1061.0
    await bot.send_message(group, "again")
    assert api.texts(group)[-1] == "again" and len(api.texts(group)) == 21
    api.limit_groups(0)
    for n in range(30):
        await bot.send_message(group, f"unlimited {n}")


async def test_an_album_counts_as_each_of_its_messages_against_a_groups_limit(api, bot):
    now = [1000.0]
    api.limit_groups(20, 60.0, clock=lambda: now[0])
    group = -100124
    for _ in range(18):
        await bot.send_message(group, "m")
    with pytest.raises(RetryAfter):  # three more would be 21
        await bot.send_media_group(group, [InputMediaPhoto(f"photo-{n}") for n in range(3)])
    assert len(await bot.send_media_group(group, [InputMediaPhoto("photo-a"), InputMediaPhoto("photo-b")])) == 2
    with pytest.raises(RetryAfter):
        await bot.send_message(group, "one too many")


@pytest.mark.asyncio
async def test_a_media_group_is_two_to_ten_items_each_a_message_of_one_album(api, bot):
    sent = await bot.send_media_group(PATIENT, [InputMediaPhoto("photo-a", caption="<b>first</b>", parse_mode="HTML"),
                                                InputMediaPhoto("photo-b", caption="last")])
    assert [m.photo[-1].file_id for m in sent] == ["photo-a", "photo-b"]
    assert sent[0].media_group_id == sent[1].media_group_id and sent[1].message_id == sent[0].message_id + 1
    assert [m.caption for m in sent] == ["<b>first</b>", "last"]
    [call] = api.media_groups(PATIENT)
    assert [item["media"] for item in call.params["media"]] == ["photo-a", "photo-b"]
    assert api.sent_messages(PATIENT) == []  # an album is not one message: media_groups() lists it
    uploaded = await bot.send_media_group(PATIENT, [InputMediaPhoto(PNG_BYTES), InputMediaPhoto(PNG_BYTES)])
    assert len({m.photo[-1].file_id for m in uploaded}) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(("media", "description"), [
    ([InputMediaPhoto("photo-a")], "media group must include 2-10 items"),
    ([InputMediaPhoto(f"photo-{n}") for n in range(11)], "too many messages to send as an album"),
    ([InputMediaPhoto("photo-a"), InputMediaDocument("doc-b")], "document can't be mixed with other media types"),
    ([InputMediaPhoto("photo-a", caption="y" * 1025), InputMediaPhoto("photo-b")], "message caption is too long"),
    ([InputMediaPhoto("photo-a", caption="<b>open", parse_mode="HTML"), InputMediaPhoto("photo-b")],
     "can't parse entities"),
])
async def test_a_media_group_telegram_would_refuse_is_refused_whole(api, bot, media, description):
    with pytest.raises(BadRequest, match=f"(?i){description}"):
        await bot.send_media_group(PATIENT, media)
    assert api.media_groups() == [] and api.calls_to("sendMediaGroup")[-1].status == 400
    # Nothing was sent, so no message id was used up.
    assert (await bot.send_message(PATIENT, "next")).message_id == 1


@pytest.mark.asyncio
async def test_a_media_group_without_media_or_with_an_empty_list_is_refused(api):
    # python-telegram-bot cannot send these itself (it fails on an empty list before sending); a raw request can.
    import aiohttp

    url = f"{api.root_url}/bot{api.token}/sendMediaGroup"
    async with aiohttp.ClientSession() as http:
        for body, description in (({"chat_id": PATIENT}, 'Bad Request: parameter "media" is required'),
                                  ({"chat_id": PATIENT, "media": []}, "Bad Request: there are no messages to send"),
                                  ({"chat_id": PATIENT, "media": [{"type": "photo", "media": "attach://nothing"},
                                                                  {"type": "photo", "media": "photo-b"}]},
                                   "Bad Request: can't parse InputMedia: media not found")):
            async with http.post(url, json=body) as response:
                assert (response.status, (await response.json())["description"]) == (400, description)
