"""A fake Telegram Bot API server for Aftercare's tests.

Aftercare talks to Telegram only through python-telegram-bot (PTB). Mocking PTB's objects would
test our assumptions about PTB rather than the bot, so the tests instead point the *real* PTB
stack (``Bot``, ``Application``, ``HTTPXRequest``) at this server over real HTTP on 127.0.0.1.
The server answers the way Telegram does -- ``{"ok": true, "result": ...}`` on success and
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` on failure, with
the matching HTTP status -- so PTB's own error mapping (``Forbidden``, ``RetryAfter``,
``BadRequest``, ``InvalidToken``, ``TimedOut``, ``NetworkError``) is exercised for real.

What it offers a test:

* a recording of every request (:attr:`FakeBotAPI.calls`), with parameters decoded back into
  Python values whichever encoding PTB chose (urlencoded form, multipart, or JSON);
* an update queue for ``getUpdates`` (:meth:`FakeBotAPI.push_update`) plus builders for realistic
  message and callback-query updates, so ``Application.run_polling``/``Updater`` work unchanged;
* fault injection (:meth:`FakeBotAPI.fail`, :meth:`FakeBotAPI.hang`, :meth:`FakeBotAPI.drop`)
  for the failure modes a production bot meets: blocked users, flood limits, Telegram 5xx,
  slow answers and dropped connections;
* Telegram's flood control for groups: at most 20 messages a minute into one group (a negative
  chat id), then 429 with ``retry_after`` until the oldest of them is a minute old; the limit, the
  window and the clock it is counted by are the test's to set (:meth:`FakeBotAPI.limit_groups`);
* groups the test declares (:meth:`FakeBotAPI.add_group`), forum supergroups among them, with the
  forum-topic methods (``createForumTopic``, ``editForumTopic``, ``closeForumTopic``,
  ``reopenForumTopic``, ``deleteForumTopic``), ``getChat`` and ``message_thread_id`` on every send,
  refused the way Telegram refuses them (see :class:`Group`).

Typical use::

    async with FakeBotAPI() as api:
        bot = telegram.Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
        async with bot:
            await bot.send_message(42, "hi")
        assert api.texts(42) == ["hi"]

The server runs in the caller's event loop (the tests are async), listens on an ephemeral port,
and keeps every wait short (long polling is capped at one second) so tests stay fast.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["DEFAULT_TOKEN", "Call", "FakeBotAPI", "ForumTopic", "Group"]

#: Shaped like a real token (``<bot id>:<secret>``) because PTB checks nothing but the server
#: does; obviously not a real credential.
DEFAULT_TOKEN = "1234567:TEST_token_for_fake_api_only_abcdef"

# Long polling is capped so a test waiting on an empty queue costs at most this long, whatever
# `timeout` PTB's Updater asks for (it asks for 10 s by default).
MAX_LONG_POLL_SECONDS = 1.0

# Telegram's own limits; exceeding them is a classic production-only failure, so the fake
# enforces them instead of happily accepting what Telegram would reject.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# sendMediaGroup: "an array describing messages to be sent, must include 2-10 items" (Bot API). Telegram's
# own server has been seen to take a single item and send it as a plain message; the fake holds a bot to
# the documented contract, so one item is refused.
MEDIA_GROUP_MIN, MEDIA_GROUP_MAX = 2, 10
MEDIA_GROUP_TYPES = frozenset({"photo", "video", "audio", "document"})
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_BUTTON_TEXT_LENGTH = 64  # not documented; longer button labels are refused in practice
MAX_TOPIC_NAME_LENGTH = 128  # createForumTopic / editForumTopic: "Topic name, 1-128 characters"
# The only icon colours createForumTopic accepts (RGB), as the Bot API documents them.
TOPIC_ICON_COLORS = frozenset({0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F})
# Telegram's answers to the forum mistakes a bot can make (Bot API wording).
THREAD_NOT_FOUND = "Bad Request: message thread not found"
NOT_A_FORUM = "Bad Request: the chat is not a forum"
TOPIC_CLOSED = "Bad Request: TOPIC_CLOSED"
TOPIC_NOT_MODIFIED = "Bad Request: TOPIC_NOT_MODIFIED"
# The tags Telegram's HTML parse mode knows (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                       "code", "pre", "blockquote", "tg-emoji"})
# The named entities it knows; numeric ones (&#39;) are fine too.
HTML_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})

# Parameters whose values are free text or opaque string identifiers. PTB sends every value as
# a string in form/multipart bodies, so the decoder turns "42" into 42 and '{"a": 1}' into a
# dict -- but a message whose text is "42" must stay the string "42".
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "short_description",
        "name",
        "question",
        "explanation",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "emoji",
        "custom_title",
        "url",
        "payload",
        "provider_token",
        "start_parameter",
        "secret_token",
        "game_short_name",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "error_message",
        "callback_query_id",
        "inline_query_id",
        "shipping_query_id",
        "pre_checkout_query_id",
        "web_app_query_id",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "file_id",
        "language_code",
        "parse_mode",
        "icon_custom_emoji_id",
    }
)

_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?\d+\.\d*(?:[eE][-+]?\d+)?")
_HTML_TAG_RE = re.compile(r"<[^>]*>")
_HTML_TOKEN_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>|<|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|&")

# Default descriptions mirror the wording Telegram uses, so code that inspects
# `str(error)` sees something realistic when a test does not care about the exact text.
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Call:
    """One request the fake received, in the order it arrived.

    ``params`` holds every parameter decoded to Python values: JSON-encoded strings such as
    ``reply_markup`` become dicts/lists, integer-looking strings such as ``chat_id`` become
    ``int`` (free-text fields such as ``text`` and ``caption`` are left alone). ``files`` maps
    multipart part names (e.g. ``"photo"``) to the uploaded bytes. ``status`` is the HTTP status
    the fake answered with: ``None`` while the call is still pending (see :meth:`FakeBotAPI.hang`)
    or when the connection was dropped (see :meth:`FakeBotAPI.drop`).
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    status: int | None = None
    #: The error description the fake answered with (None on success).
    description: str | None = None


@dataclass
class _Fault:
    """A pending fault-injection rule; consumed one call at a time."""

    kind: str  # "fail", "hang" or "drop"
    method: str  # lower-cased, because Telegram method names are case-insensitive
    remaining: int
    chat_id: int | str | None = None
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    seconds: float = 0.0

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.remaining <= 0 or self.method != method:
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


@dataclass
class ForumTopic:
    """A topic of a forum supergroup; its id is the id of the service message that created it."""

    thread_id: int
    name: str
    icon_color: int
    created_by: int  # the user (or bot) id that created it
    closed: bool = False


@dataclass
class Group:
    """A group the test declared: a plain group, a supergroup, or a forum (a supergroup with topics on).

    What Telegram checks and this fake checks too: topics exist only in a forum (``createForumTopic``
    elsewhere is a 400, and so is any ``message_thread_id``); creating one needs the bot to be an
    administrator with ``can_manage_topics``; editing, closing and reopening need that right too unless
    the bot created the topic; deleting needs ``can_delete_messages``; an unknown or deleted topic is
    "message thread not found"; in a closed topic only administrators with ``can_manage_topics`` may
    still post. A message posted in a topic carries ``message_thread_id`` and ``is_topic_message``
    and, when it replies to nothing else, replies to the topic's creation message (as Telegram does).
    """

    chat_id: int
    type: str = "supergroup"
    title: str = "Clinic staff"
    is_forum: bool = False
    bot_admin: bool = True
    can_manage_topics: bool = True
    can_delete_messages: bool = True
    topics: dict[int, ForumTopic] = field(default_factory=dict)

    def chat(self) -> dict[str, Any]:
        """The Chat object as Telegram puts it in messages."""
        chat: dict[str, Any] = {"id": self.chat_id, "type": self.type, "title": self.title}
        if self.is_forum:
            chat["is_forum"] = True
        return chat

    @property
    def bot_manages_topics(self) -> bool:
        return self.bot_admin and self.can_manage_topics


class _ApiError(Exception):
    """Raised by method implementations to answer with a Telegram-style error."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _media_object(kind: str, file_id: str) -> dict[str, Any]:
    """The smallest object of each attachment kind that python-telegram-bot accepts."""
    base: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u-{file_id}"}
    extra = {
        "voice": {"duration": 4},
        "audio": {"duration": 30},
        "video": {"width": 640, "height": 480, "duration": 5},
        "document": {"file_name": "report.pdf"},
        "video_note": {"length": 240, "duration": 5},
        "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False},
    }
    return {**base, **extra[kind]}


def _utf16_len(text: str) -> int:
    # Telegram measures lengths and entity offsets in UTF-16 code units, so an emoji counts 2.
    return len(text.encode("utf-16-le")) // 2


def _visible_length(text: str, parse_mode: Any) -> int | None:
    """Length of `text` as Telegram counts it against its limits, or None if unknown."""
    if not parse_mode:
        return _utf16_len(text)
    if str(parse_mode).upper() == "HTML":
        # Tags do not count towards the limit, entities count as the character they stand for.
        return _utf16_len(html.unescape(_HTML_TAG_RE.sub("", text)))
    # Markdown escaping rules are intricate; rather skip the check than reject valid text.
    return None


def _html_problem(text: str) -> str | None:
    """What Telegram's HTML parser would refuse in ``text`` ("can't parse entities"), or None."""
    open_tags: list[str] = []
    for match in _HTML_TOKEN_RE.finditer(text):
        token = match.group(0)
        if token == "<":
            return f"unsupported start tag at byte offset {match.start()}"
        if token == "&":
            return f"character & at offset {match.start()} must be escaped as &amp;"
        if token.startswith("&"):
            entity = match.group(4)
            if not entity.startswith("#") and entity not in HTML_ENTITIES:
                return f"unsupported entity &{entity};"
            continue
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag not in HTML_TAGS:
            return f'unsupported start tag "{tag}" at byte offset {match.start()}'
        if not closing:
            open_tags.append(tag)
        elif not open_tags or open_tags[-1] != tag:
            return f"unmatched end tag at byte offset {match.start()}"
        else:
            open_tags.pop()
    if open_tags:
        return f'can\'t find end tag corresponding to start tag "{open_tags[-1]}"'
    return None


def _decode_value(name: str, value: Any) -> Any:
    """Turn one parameter value as sent over the wire back into the Python value PTB encoded."""
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    # PTB's RequestParameter.json_value sends str values raw and json.dumps() everything else,
    # so anything that parses as a JSON number/bool/object/array was not a str to begin with
    # (outside _STRING_PARAMS).
    if _INT_RE.fullmatch(value):
        return int(value)
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    if value in ("true", "false"):
        return value == "true"
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# Telegram's flood control for a group: about 20 messages a minute. What counts: what writes into the chat.
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0
GROUP_WRITES = frozenset({"sendmessage", "sendphoto", "senddocument", "sendmediagroup", "copymessage",
                          "createforumtopic",
                          "editforumtopic", "closeforumtopic", "reopenforumtopic", "editmessagetext",
                          "editmessagecaption", "editmessagereplymarkup"})


class FakeBotAPI:
    """A Telegram Bot API look-alike HTTP server for tests; see the module docstring.

    Bot API methods are served at ``f"{root_url}/bot{token}/{method}"`` and file downloads at
    ``f"{root_url}/file/bot{token}/{path}"``. Only the methods Aftercare uses are implemented;
    any other method answers 404 ``Not Found`` like Telegram does for unknown methods.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int = 123456789,
        username: str = "aftercare_test_bot",
        first_name: str = "Aftercare",
    ) -> None:
        """Configure the fake bot's identity; nothing listens until :meth:`start`."""
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        #: Every request received, in arrival order, including failed and dropped ones.
        self.calls: list[Call] = []

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._faults: list[_Fault] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        # Incoming (user) message ids live in their own range so they can never be mistaken
        # for the bot's own messages, whose ids start at 1 per chat (see sendMessage).
        self._next_user_message_id = 1_000_001
        self._next_callback_id = 1
        # Callback queries handed out (callback_update) and answered: Telegram accepts one answer each.
        self._open_callbacks: set[str] = set()
        self.answered_callbacks: set[str] = set()
        self._bot_message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_photo = 1
        self._photo_sizes: dict[str, int] = {}
        self._file_contents: dict[str, bytes] = {}
        self._commands: dict[tuple[str, str], list[Any]] = {}
        #: Groups declared by :meth:`add_group`, by chat id; any other negative id is a plain group.
        self.groups: dict[int, Group] = {}
        # Re-created after every push so that each long-polling getUpdates waits on the event
        # current when it started, and every waiter wakes up on the next push.
        self._update_pushed = asyncio.Event()
        self._closing = asyncio.Event()

        # Flood control for groups (limit_groups): the times of the recent messages into each group.
        self.group_limit, self.group_window = GROUP_LIMIT, GROUP_WINDOW
        self.flood_clock: Callable[[], float] = time.monotonic
        self._group_writes: dict[int, deque[float]] = {}

        self._methods = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "answercallbackquery": self._answer_callback_query,
            "setchatmenubutton": self._true,
            "close": self._true,
            "logout": self._true,
            "sendchataction": self._true,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "sendmediagroup": self._send_media_group,
            "senddocument": self._send_document,
            "copymessage": self._copy_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
            "editmessagecaption": self._edit_message_caption,
            "getfile": self._get_file,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Start listening on 127.0.0.1 (an ephemeral port unless given), in the running event loop."""
        if self._runner is not None:
            return
        # Fresh events: asyncio primitives bind to the loop that first waits on them, and a
        # fixture may start the same fake again under another test's loop.
        self._closing = asyncio.Event()
        self._update_pushed = asyncio.Event()
        # Telegram accepts photo uploads up to 10 MB and other files up to 50 MB; aiohttp's
        # default 1 MB body limit would turn a realistic upload into a confusing 413.
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown timeout: stop() must not wait for a hung handler (see hang()).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop the server, cutting short any pending long poll or injected hang."""
        if self._runner is None:
            return
        self._closing.set()
        self._update_pushed.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> FakeBotAPI:
        """Start the server; ``async with FakeBotAPI() as api:`` is the usual form."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the server."""
        await self.stop()

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` -- what ``TELEGRAM_API_BASE_URL`` would be set to."""
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not running; call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url`` (``Bot(..., base_url=...)``): root + ``/bot``."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's ``base_file_url``: root + ``/file/bot``."""
        return f"{self.root_url}/file/bot"

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls of `method` (case-insensitive, as in Telegram), in order."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def sent_messages(
        self, chat_id: int | None = None, *, include_failed: bool = False
    ) -> list[Call]:
        """The ``sendMessage`` and ``sendPhoto`` calls, in order, optionally for one chat only.

        Only calls the fake answered successfully count as sent; pass ``include_failed=True``
        to also get the attempts that were failed, dropped or are still hanging (``calls_to``
        gives the same for a single method).
        """
        return [
            call
            for call in self.calls
            if call.method.lower() in ("sendmessage", "sendphoto", "copymessage")
            and (include_failed or call.status == 200)
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def media_groups(self, chat_id: int | None = None) -> list[Call]:
        """The ``sendMediaGroup`` calls Telegram would have taken (albums), in order, optionally for one chat.

        Kept apart from :meth:`sent_messages`: one call is several messages, each with an id of its own.
        """
        return [call for call in self.calls_to("sendMediaGroup")
                if call.status == 200 and (chat_id is None or call.params.get("chat_id") == chat_id)]

    def texts(self, chat_id: int | None = None, *, include_failed: bool = False) -> list[str]:
        """The ``text`` (sendMessage) or ``caption`` (sendPhoto) of :meth:`sent_messages`."""
        result = []
        for call in self.sent_messages(chat_id, include_failed=include_failed):
            key = "text" if call.method.lower() == "sendmessage" else "caption"
            value = call.params.get(key)
            result.append("" if value is None else str(value))
        return result

    # ------------------------------------------------------------------ groups and forums

    def add_group(self, chat_id: int, *, forum: bool = True, title: str = "Clinic staff", bot_admin: bool = True,
                  can_manage_topics: bool = True, can_delete_messages: bool = True) -> Group:
        """Declare the group ``chat_id`` (a negative id): by default a forum supergroup where the bot
        is an administrator allowed to manage topics. ``forum=False`` makes it a supergroup with topics off."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        group = Group(chat_id, title=title, is_forum=forum, bot_admin=bot_admin, can_manage_topics=can_manage_topics,
                      can_delete_messages=can_delete_messages)
        self.groups[chat_id] = group
        if forum:
            # Message 1 of a forum is its General topic's: ids of the bot's messages there start at 2.
            self._bot_message_ids.setdefault(chat_id, 1)
        return group

    def set_forum(self, chat_id: int, is_forum: bool) -> None:
        """An administrator turns topics on or off. Off, every topic is gone with it (as the threads are)."""
        group = self.groups[chat_id]
        group.is_forum = is_forum
        self._bot_message_ids.setdefault(chat_id, 1)
        if not is_forum:
            group.topics.clear()

    def topics(self, chat_id: int) -> list[ForumTopic]:
        """The topics that exist now in ``chat_id``, oldest first."""
        group = self.groups.get(chat_id)
        return sorted(group.topics.values(), key=lambda t: t.thread_id) if group else []

    def topic_named(self, chat_id: int, name: str) -> ForumTopic:
        """The one topic called ``name`` in ``chat_id`` (AssertionError if there is none or several)."""
        found = [topic for topic in self.topics(chat_id) if topic.name == name]
        assert len(found) == 1, f"topics named {name!r} in {chat_id}: {len(found)} ({[t.name for t in self.topics(chat_id)]})"
        return found[0]

    def delete_topic_by_user(self, chat_id: int, thread_id: int) -> None:
        """A member with the right to do so deletes a topic in the Telegram app (its messages go too)."""
        del self.groups[chat_id].topics[thread_id]
        for key in [key for key, message in self._messages.items()
                    if key[0] == chat_id and message.get("message_thread_id") == thread_id]:
            del self._messages[key]

    def in_topic(self, chat_id: int, thread_id: int | None) -> list[str]:
        """What the bot posted in that topic (None: outside any topic), as :meth:`texts` gives it."""
        return [text for call, text in zip(self.sent_messages(chat_id), self.texts(chat_id), strict=True)
                if call.params.get("message_thread_id") == thread_id
                or (thread_id is not None and call.params.get("message_thread_id") is None
                    and self._replied_thread(chat_id, call.params) == thread_id)]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message the bot has in that chat as Telegram keeps them (edits applied), oldest first."""
        return [copy.deepcopy(message) for (chat, _), message in sorted(self._messages.items())
                if chat == chat_id and message.get("from", {}).get("id") == self.bot_id]

    def topic_messages(self, chat_id: int, thread_id: int) -> list[dict[str, Any]]:
        """The bot's messages in that topic as Telegram keeps them (service messages left out), oldest first."""
        return [copy.deepcopy(message) for (chat, _), message in sorted(self._messages.items())
                if chat == chat_id and message.get("message_thread_id") == thread_id
                and message.get("from", {}).get("id") == self.bot_id
                and not any(key.startswith("forum_topic_") for key in message)]

    def _replied_thread(self, chat_id: int, params: dict[str, Any]) -> int | None:
        replied = self._replied_message(chat_id, params)
        return replied.get("message_thread_id") if replied and replied.get("is_topic_message") else None

    # ------------------------------------------------------------------ updates

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue a raw update for ``getUpdates``, waking any long poll in progress.

        An ``update_id`` is assigned (in place) if missing; explicit ids move the counter past
        them so later generated ids stay increasing, which PTB's offset handling relies on.
        """
        if "update_id" not in update:
            update["update_id"] = self._take_update_id()
        else:
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._updates.append(update)
        # Telegram hands updates out in update_id order, even if a test pushes them otherwise.
        self._updates.sort(key=lambda u: u["update_id"])
        self._update_pushed.set()
        self._update_pushed = asyncio.Event()

    def message_update(
        self,
        *,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        photo_file_id: str | None = None,
        location: tuple[float, float] | None = None,
        media: str | None = None,
        edited: bool = False,
        message_thread_id: int | None = None,
        contact: tuple[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """Build (but do not push) an Update dict carrying a text message from a user.

        ``message_thread_id`` posts it in that topic of a forum declared with :meth:`add_group` (a
        reply to a message in a topic is in that topic without it): it then carries
        ``message_thread_id`` and ``is_topic_message``, and replies to the topic's creation message
        unless it replies to another. A topic that does not exist is a mistake in the test (ValueError).

        ``edited`` makes it an ``edited_message`` update (the user edited a message they sent).

        ``reply_to_message_id`` makes it a reply to that bot message; ``photo_file_id`` makes it
        a photo with ``text`` as caption; ``location`` (latitude, longitude) a shared location;
        ``contact`` (phone number, user id or None) a shared contact;
        ``media`` (``"voice"``, ``"audio"``, ``"video"``, ``"document"``, ``"video_note"`` or
        ``"sticker"``) that kind of attachment, with ``text`` as caption where it can have one.

        `chat_id` defaults to `user_id` (a private chat). Text starting with ``/`` gets a
        ``bot_command`` entity, which PTB's ``CommandHandler`` requires to recognise commands.
        Each call consumes a fresh update_id and message_id; user message ids count up from
        1_000_001 so they never collide with the bot's own per-chat ids (1, 2, ...).
        """
        chat_id = user_id if chat_id is None else chat_id
        user = self._user(user_id, first_name, last_name, username, language_code)
        if chat_id in self.groups:
            chat: dict[str, Any] = self.groups[chat_id].chat()
        elif chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
            if last_name is not None:
                chat["last_name"] = last_name
            if username is not None:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "Test chat"}
        message: dict[str, Any] = {
            "message_id": self._next_user_message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        self._next_user_message_id += 1
        replied = None
        if reply_to_message_id is not None:
            replied = self._existing_or_placeholder(chat_id, reply_to_message_id)
            message["reply_to_message"] = copy.deepcopy(replied)
            if message_thread_id is None and replied.get("is_topic_message"):
                message_thread_id = replied["message_thread_id"]
        if message_thread_id is not None:
            group = self.groups.get(chat_id)
            if group is None or not group.is_forum or message_thread_id not in group.topics:
                raise ValueError(f"chat {chat_id} has no topic {message_thread_id}")
            self._place_in_topic(message, chat_id, message_thread_id, replied)
        # Kept, so that a reply to it (a colleague answering a note) can quote it as Telegram would.
        self._messages[(chat_id, message["message_id"])] = message
        if photo_file_id is not None:
            del message["text"]
            if text:
                message["caption"] = text
            message["photo"] = [{"file_id": photo_file_id, "file_unique_id": f"u-{photo_file_id}",
                                 "width": 640, "height": 480}]
            return self._message_or_edit(message, edited)
        if media is not None:
            del message["text"]
            if text and media not in ("video_note", "sticker"):
                message["caption"] = text
            message[media] = _media_object(media, f"{media}-{message['message_id']}")
            return self._message_or_edit(message, edited)
        if contact is not None:
            # A shared contact: (phone number as Telegram gives it, the Telegram user it belongs to).
            del message["text"]
            message["contact"] = {"phone_number": contact[0], "first_name": first_name}
            if contact[1] is not None:
                message["contact"]["user_id"] = contact[1]
            return {"update_id": self._take_update_id(), "message": message}
        if location is not None:
            del message["text"]
            message["location"] = {"latitude": location[0], "longitude": location[1]}
            return {"update_id": self._take_update_id(), "message": message}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self._message_or_edit(message, edited)

    def _message_or_edit(self, message: dict[str, Any], edited: bool) -> dict[str, Any]:
        if not edited:
            return {"update_id": self._take_update_id(), "message": message}
        message["edit_date"] = message["date"] + 1
        return {"update_id": self._take_update_id(), "edited_message": message}

    def callback_update(
        self,
        *,
        user_id: int,
        data: str,
        message_id: int,
        chat_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """Build (but do not push) an Update dict with a callback query (an inline button press).

        The query's ``message`` is the bot message `message_id` in `chat_id` (default: the
        user's private chat): the message as this fake sent/edited it if it knows it, otherwise
        a minimal bot message with that id.
        """
        chat_id = user_id if chat_id is None else chat_id
        message = self._existing_or_placeholder(chat_id, message_id)
        query_id = self._next_callback_id
        self._next_callback_id += 1
        self._open_callbacks.add(f"cbq-{query_id}")
        return {
            "update_id": self._take_update_id(),
            "callback_query": {
                "id": f"cbq-{query_id}",
                "from": self._user(user_id, first_name, last_name, username, language_code),
                "message": copy.deepcopy(message),
                "chat_instance": f"instance-{chat_id}",
                "data": data,
            },
        }

    # ------------------------------------------------------------------ fault injection

    def fail(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (only for `chat_id`, if given) fail.

        The answer is a Telegram-style JSON error with that HTTP status and ``error_code``.
        Status 429 always carries ``parameters.retry_after`` (default 1 s), which PTB turns into
        ``RetryAfter``; for other statuses it is included only when given. Typical statuses:
        400 -> ``BadRequest``, 403 -> ``Forbidden``, 500/502 -> ``NetworkError``.
        `description` defaults to Telegram's wording for the status.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, "Error")
        self._faults.append(
            _Fault(
                "fail",
                method.lower(),
                times,
                chat_id=chat_id,
                status=status,
                description=description,
                retry_after=retry_after,
            )
        )

    def hang(
        self, method: str, *, seconds: float, times: int = 1, chat_id: int | None = None
    ) -> None:
        """Make the next `times` calls of `method` wait `seconds` before answering normally.

        Used to exceed the client's read timeout (PTB raises ``TimedOut``). Like a slow
        Telegram, the call still takes effect once the delay is over, even if the client has
        given up by then; :meth:`stop` cuts the delay short.
        """
        self._faults.append(_Fault("hang", method.lower(), times, chat_id=chat_id, seconds=seconds))

    def drop(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """Make the next `times` calls of `method` close the connection without any response.

        PTB sees ``httpx.RemoteProtocolError`` and raises ``NetworkError``. The call has no
        effect (no message is created) and is recorded with ``status=None``.
        """
        self._faults.append(_Fault("drop", method.lower(), times, chat_id=chat_id))

    def limit_groups(self, limit: int = 20, window: float = 60.0, *,
                     clock: Callable[[], float] | None = None) -> None:
        """Telegram's flood control for groups: at most ``limit`` messages into one group per ``window``
        seconds, counted by ``clock`` (seconds; a test's own clock, so no test waits a real minute).
        ``limit=0`` turns it off. Beyond it: 429 ``Too Many Requests: retry after N``."""
        self.group_limit, self.group_window = limit, window
        if clock is not None:
            self.flood_clock = clock
        self._group_writes.clear()

    def _flood_control(self, method: str, params: dict[str, Any]) -> int | None:
        """The seconds to wait if this call would go over its group's limit (it then does not count), else None."""
        chat_id = params.get("chat_id")
        if (self.group_limit <= 0 or method not in GROUP_WRITES or not isinstance(chat_id, int)
                or isinstance(chat_id, bool) or chat_id >= 0):
            return None
        now = self.flood_clock()
        recent = self._group_writes.setdefault(chat_id, deque())
        while recent and recent[0] <= now - self.group_window:
            recent.popleft()
        # An album is as many messages as it has items, and Telegram counts each.
        media = params.get("media") if method == "sendmediagroup" else None
        count = len(media) if isinstance(media, list) and MEDIA_GROUP_MIN <= len(media) <= MEDIA_GROUP_MAX else 1
        if len(recent) + count > self.group_limit:
            return max(1, math.ceil(recent[0] + self.group_window - now)) if recent else 1
        recent.extend([now] * count)
        return None

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_control/"):
            return await self._control(request, path.removeprefix("/_control/"))
        if path.startswith("/file/bot"):
            return self._handle_file(request, path[len("/file/bot") :])
        match = re.fullmatch(r"/bot([^/]*)/([^/]+)", path)
        if match is None:
            return self._error(404, "Not Found")
        token, method = match.groups()

        params, files = await self._read_params(request)
        call = Call(method=method, params=params, files=files)
        self.calls.append(call)

        # Telegram answers 401 for a well-formed but wrong token before looking at the method.
        if token != self.token:
            return self._error(401, "Unauthorized", call=call)

        fault = self._take_fault(method.lower(), params)
        if fault is not None:
            if fault.kind == "drop":
                # Closing the transport before writing anything is what a dead proxy or a
                # reset connection looks like to the client: no status line at all.
                request.protocol.force_close()
                return web.Response()
            if fault.kind == "fail":
                parameters = None
                if fault.retry_after is not None:
                    parameters = {"retry_after": fault.retry_after}
                return self._error(fault.status, fault.description, parameters, call=call)
            if fault.kind == "hang":
                await self._wait(self._closing, fault.seconds)

        implementation = self._methods.get(method.lower())
        if implementation is None:
            return self._error(404, "Not Found", call=call)
        wait = self._flood_control(method.lower(), params)
        if wait is not None:
            return self._error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait}, call=call)
        try:
            self._check_markup(params.get("reply_markup"))
            result = await implementation(call)
        except _ApiError as error:
            return self._error(error.status, error.description, call=call)
        call.status = 200
        return web.json_response({"ok": True, "result": result})

    async def _control(self, request: web.Request, action: str) -> web.StreamResponse:
        """Drive a standalone server from another process (a manual trial, a subprocess test).

        ``POST /_control/message`` with JSON ``{"user_id": 1, "text": "/start x"}`` queues an
        update; ``GET /_control/sent`` lists what the bot sent; ``POST /_control/fail`` takes
        :meth:`fail`'s arguments as JSON.
        """
        if action == "message" and request.method == "POST":
            body = await request.json()
            self.push_update(self.message_update(**body))
            return web.json_response({"ok": True})
        if action == "sent":
            return web.json_response([
                {"method": call.method, "chat_id": call.params.get("chat_id"),
                 "text": call.params.get("text") or call.params.get("caption") or ""}
                for call in self.sent_messages()
            ])
        if action == "fail" and request.method == "POST":
            body = await request.json()
            self.fail(body.pop("method"), **body)
            return web.json_response({"ok": True})
        return self._error(404, "Not Found")

    def add_file(self, file_id: str, content: bytes) -> None:
        """A file users sent (a patient's photo): getFile finds it and its download serves ``content``."""
        self._file_contents[f"photos/{file_id}"] = content

    async def _get_file(self, call: Call) -> dict[str, Any]:
        file_id = str(call.params.get("file_id") or "")
        path = f"photos/{file_id}"
        if path not in self._file_contents:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(self._file_contents[path]),
                "file_path": path}

    def _handle_file(self, request: web.Request, rest: str) -> web.StreamResponse:
        # Downloads are rare in Aftercare; serve what was uploaded, keyed by file_path
        # ("photos/<file_id>"), so a round trip is possible if a test ever needs one.
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return self._error(401, "Unauthorized")
        content = self._file_contents.get(file_path)
        if content is None:
            return self._error(404, "Not Found")
        return web.Response(body=content, content_type="application/octet-stream")

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        """Decode query string and body, whichever of the encodings PTB (or a test) used."""
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        content_type = request.content_type
        if content_type == "multipart/form-data":
            # PTB's HTTPXRequest switches to multipart whenever a request carries an upload;
            # parts with a filename are files, the rest are ordinary parameters.
            reader = await request.multipart()
            async for part in reader:
                if part.name is None:
                    continue
                if part.filename is not None:
                    files[part.name] = bytes(await part.read())
                else:
                    raw[part.name] = await part.text()
        elif content_type == "application/x-www-form-urlencoded":
            # What HTTPXRequest sends without uploads: RequestData.json_parameters, i.e. str
            # values raw and everything else json.dumps()-ed.
            raw.update(await request.post())
        elif content_type == "application/json":
            body = await request.read()
            if body:
                decoded = json.loads(body)
                if isinstance(decoded, dict):
                    raw.update(decoded)
        params = {name: _decode_value(name, value) for name, value in raw.items()}
        return params, files

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        # Rules apply in the order they were registered, so fail() then drop() on the same
        # method gives the failures first.
        for fault in self._faults:
            if fault.matches(method, params):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _error(
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        call: Call | None = None,
    ) -> web.Response:
        if call is not None:
            call.status, call.description = status, description
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> None:
        """Wait for `event` at most `timeout` seconds, without raising on timeout."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ object builders

    def _take_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _bot_user(self) -> dict[str, Any]:
        # getMe's answer: the full bot User, with the bot-only capability flags.
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _bot_from(self) -> dict[str, Any]:
        # In messages Telegram only includes the basic User fields for the sender.
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    @staticmethod
    def _user(
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _chat(self, chat_id: int) -> dict[str, Any]:
        # A declared group as declared; otherwise user ids (and so private chat ids) are positive,
        # group ids negative.
        group = self.groups.get(chat_id)
        if group is not None:
            return group.chat()
        return {"id": chat_id, "type": "private" if chat_id > 0 else "group"}

    @staticmethod
    def _require_chat_id(params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            # "@channelusername" targets are not something Aftercare uses or the fake models.
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _new_bot_message(self, chat_id: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        # The topic is checked first: a refused send must not use up a message id.
        thread = self._thread_of_send(chat_id, params) if params is not None else None
        message_id = self._bot_message_ids.get(chat_id, 0) + 1
        self._bot_message_ids[chat_id] = message_id
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._bot_from(),
        }
        replied = self._replied_message(chat_id, params)
        if thread is not None:
            self._place_in_topic(message, chat_id, thread, replied)
        elif replied is not None:
            message["reply_to_message"] = copy.deepcopy(replied)
        return message

    def _replied_message(self, chat_id: int, params: dict[str, Any] | None) -> dict[str, Any] | None:
        """The message of this chat a send replies to (``reply_parameters``), if the fake knows it."""
        reply = (params or {}).get("reply_parameters")
        if not isinstance(reply, dict) or reply.get("chat_id") not in (None, chat_id):
            return None
        return self._messages.get((chat_id, reply.get("message_id")))

    def _thread_of_send(self, chat_id: int, params: dict[str, Any]) -> int | None:
        """The topic a send goes to (None: the chat itself, or a forum's General), refused as Telegram would."""
        thread = params.get("message_thread_id")
        if thread is None:
            # A reply to a message in a topic lands in that topic, even without message_thread_id.
            replied = self._replied_message(chat_id, params)
            if replied is not None and replied.get("is_topic_message"):
                thread = replied["message_thread_id"]
            else:
                return None
        group = self.groups.get(chat_id)
        if group is None or not group.is_forum or not isinstance(thread, int):
            # Not a forum (a private chat, a plain group, a supergroup with topics off): no such thread.
            raise _ApiError(400, THREAD_NOT_FOUND)
        topic = group.topics.get(thread)
        if topic is None:
            # Unknown, deleted, or 1 (General, which is reached by leaving message_thread_id out).
            raise _ApiError(400, THREAD_NOT_FOUND)
        if topic.closed and not group.bot_manages_topics:
            raise _ApiError(400, TOPIC_CLOSED)
        return thread

    def _place_in_topic(self, message: dict[str, Any], chat_id: int, thread: int,
                        replied: dict[str, Any] | None) -> None:
        # In a topic every message is a reply: to what it answers, or else to the topic's first message.
        message["message_thread_id"] = thread
        message["is_topic_message"] = True
        if replied is None or replied.get("message_thread_id") != thread:
            replied = self._messages.get((chat_id, thread))
        if replied is not None:
            message["reply_to_message"] = copy.deepcopy({k: v for k, v in replied.items() if k != "reply_to_message"})

    @staticmethod
    def _apply_markup(message: dict[str, Any], markup: Any) -> None:
        # Telegram echoes only inline keyboards back in the Message; reply keyboards and
        # ForceReply/ReplyKeyboardRemove are not part of Message.reply_markup (and PTB could
        # not even parse them there).
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _store(self, message: dict[str, Any]) -> dict[str, Any]:
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return copy.deepcopy(message)

    def _existing_or_placeholder(self, chat_id: int, message_id: int) -> dict[str, Any]:
        # Tests often edit messages the fake never sent (e.g. from a hand-built callback
        # update), so an unknown message is synthesised rather than rejected.
        message = self._messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                # A zero date would make PTB treat it as an InaccessibleMessage.
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": self._bot_from(),
            }
        return message

    @staticmethod
    def _check_length(text: str, parse_mode: Any, limit: int, description: str) -> None:
        if parse_mode and str(parse_mode).upper() == "HTML":
            problem = _html_problem(text)
            if problem:
                raise _ApiError(400, f"Bad Request: can't parse entities: {problem}")
        length = _visible_length(text, parse_mode)
        if length is not None and length > limit:
            raise _ApiError(400, description)

    @staticmethod
    def _check_markup(markup: Any) -> None:
        """Refuse an inline keyboard Telegram would refuse: callback data over 64 bytes, empty labels."""
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return
        for row in markup["inline_keyboard"]:
            for button in row:
                label = str(button.get("text") or "")
                if not label.strip() or len(label) > MAX_BUTTON_TEXT_LENGTH:
                    raise _ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    # ------------------------------------------------------------------ Bot API methods

    async def _true(self, call: Call) -> bool:
        return True

    def unanswered_callbacks(self) -> set[str]:
        """Callback queries built by :meth:`callback_update` that the bot never answered."""
        return set(self._open_callbacks)

    async def _answer_callback_query(self, call: Call) -> bool:
        # Telegram: one answer per query, for a query it sent; a notice of at most 200 characters.
        query_id = str(call.params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = call.params.get("text")
        if text is not None and _utf16_len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        self.answered_callbacks.add(query_id)
        return True

    async def _get_me(self, call: Call) -> dict[str, Any]:
        return self._bot_user()

    async def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        offset = call.params.get("offset")
        limit = call.params.get("limit") or 100
        timeout = call.params.get("timeout") or 0
        if isinstance(offset, int) and offset != 0:
            if offset < 0:
                # Negative offsets select the last -offset updates; older ones are forgotten.
                del self._updates[: max(0, len(self._updates) + offset)]
            else:
                # Telegram forgets everything below the offset: it has been confirmed.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and isinstance(timeout, int | float) and timeout > 0:
            deadline = asyncio.get_running_loop().time() + min(timeout, MAX_LONG_POLL_SECONDS)
            while not self._updates and not self._closing.is_set():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                await self._wait(self._update_pushed, remaining)
        return copy.deepcopy(self._updates[: max(1, min(int(limit), 100))])

    async def _delete_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates") is True:
            # PTB's run_polling(drop_pending_updates=True) relies on this.
            self._updates.clear()
        return True

    async def _set_webhook(self, call: Call) -> bool:
        if call.params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, call: Call) -> bool:
        self._commands[self._commands_key(call.params)] = call.params.get("commands") or []
        return True

    async def _delete_my_commands(self, call: Call) -> bool:
        self._commands.pop(self._commands_key(call.params), None)
        return True

    async def _get_my_commands(self, call: Call) -> list[Any]:
        # Like Telegram, answer what was set for this scope/language (nothing by default).
        return copy.deepcopy(self._commands.get(self._commands_key(call.params), []))

    def _message_text(self, params: dict[str, Any]) -> str:
        """The ``text`` parameter, refused as Telegram would when empty or too long."""
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        self._check_length(text, params.get("parse_mode"), MAX_TEXT_LENGTH, "Bad Request: message is too long")
        return text

    async def _send_message(self, call: Call) -> dict[str, Any]:
        params = call.params
        chat_id = self._require_chat_id(params)
        text = self._message_text(params)
        message = self._new_bot_message(chat_id, params)
        message["text"] = text
        self._apply_markup(message, params.get("reply_markup"))
        return self._store(message)

    async def _copy_message(self, call: Call) -> dict[str, Any]:
        # Telegram answers copyMessage with a MessageId only; the copy is kept (with the caption
        # given, which is what staff see above the media) so that replies to it resolve.
        params = call.params
        chat_id = self._require_chat_id(params)
        if params.get("from_chat_id") is None or params.get("message_id") is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        message = self._new_bot_message(chat_id, params)
        caption = params.get("caption")
        if caption is not None:
            caption = str(caption)
            self._check_length(caption, params.get("parse_mode"), MAX_CAPTION_LENGTH,
                               "Bad Request: message caption is too long")
            message["caption"] = caption
        self._apply_markup(message, params.get("reply_markup"))
        self._store(message)
        return {"message_id": message["message_id"]}

    async def _send_photo(self, call: Call) -> dict[str, Any]:
        params = call.params
        chat_id = self._require_chat_id(params)
        photo = params.get("photo")
        content: bytes | None = call.files.get("photo")
        if content is None and isinstance(photo, str) and photo.startswith("attach://"):
            content = call.files.get(photo[len("attach://") :])
        if content is not None:
            file_id = f"photo-{self._next_photo}"
            self._next_photo += 1
            file_size: int | None = len(content)
            self._photo_sizes[file_id] = len(content)
            self._file_contents[f"photos/{file_id}"] = content
        elif isinstance(photo, str) and photo:
            # Re-sending by file_id (or by URL): reuse what is known about that file.
            file_id = photo if photo in self._photo_sizes else f"photo-{self._next_photo}"
            if file_id != photo:
                self._next_photo += 1
            file_size = self._photo_sizes.get(file_id)
        else:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        if caption is not None:
            caption = str(caption)
            self._check_length(
                caption,
                params.get("parse_mode"),
                MAX_CAPTION_LENGTH,
                "Bad Request: message caption is too long",
            )
        size: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"unique-{file_id}",
            "width": 300,
            "height": 300,
        }
        if file_size is not None:
            size["file_size"] = file_size
        message = self._new_bot_message(chat_id, params)
        message["photo"] = [size]
        if caption:
            message["caption"] = caption
        self._apply_markup(message, params.get("reply_markup"))
        return self._store(message)

    async def _send_media_group(self, call: Call) -> list[dict[str, Any]]:
        """An album: 2-10 items, photos and videos together or only documents or only audio, each caption
        within Telegram's limit; refused whole with Telegram's wording, as Telegram does."""
        params = call.params
        chat_id = self._require_chat_id(params)
        media = params.get("media")
        if media is None:
            raise _ApiError(400, 'Bad Request: parameter "media" is required')
        if not isinstance(media, list):
            raise _ApiError(400, "Bad Request: can't parse media JSON object")
        if not media:
            raise _ApiError(400, "Bad Request: there are no messages to send")
        if len(media) > MEDIA_GROUP_MAX:
            raise _ApiError(400, "Bad Request: too many messages to send as an album")
        if len(media) < MEDIA_GROUP_MIN:
            raise _ApiError(400, "Bad Request: media group must include 2-10 items")
        kinds = []
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "animation":
                raise _ApiError(400, 'Bad Request: can\'t parse InputMedia: type "animation" can\'t be used in '
                                     'sendMediaGroup')
            if kind not in MEDIA_GROUP_TYPES:
                raise _ApiError(400, f'Bad Request: can\'t parse InputMedia: type "{kind}" is unsupported')
            reference = item.get("media")
            if not isinstance(reference, str) or not reference or (
                    reference.startswith("attach://") and reference.removeprefix("attach://") not in call.files):
                raise _ApiError(400, "Bad Request: can't parse InputMedia: media not found")
            caption = item.get("caption")
            if caption is not None:
                self._check_length(str(caption), item.get("parse_mode"), MAX_CAPTION_LENGTH,
                                   "Bad Request: message caption is too long")
            kinds.append(kind)
        for alone in ("document", "audio"):
            if alone in kinds and any(kind != alone for kind in kinds):
                raise _ApiError(400, f"Bad Request: {alone} can't be mixed with other media types")
        group_id = str(10_000_000 + len(self.calls))
        sent = []
        for item in media:
            reference = item["media"]
            content = call.files.get(reference.removeprefix("attach://")) if reference.startswith("attach://") else None
            if content is not None:
                file_id = f"photo-{self._next_photo}"
                self._next_photo += 1
                self._file_contents[f"photos/{file_id}"] = content
            else:
                file_id = reference
            message = self._new_bot_message(chat_id, params)
            message["media_group_id"] = group_id
            if item["type"] == "photo":
                message["photo"] = [{"file_id": file_id, "file_unique_id": f"unique-{file_id}", "width": 300,
                                     "height": 300}]
            else:
                message[item["type"]] = _media_object(item["type"], file_id)
            if item.get("caption"):
                message["caption"] = str(item["caption"])
            sent.append(self._store(message))
        return sent

    async def _get_chat(self, call: Call) -> dict[str, Any]:
        # A ChatFullInfo: the chat as in messages, plus the fields PTB requires of it.
        chat_id = self._require_chat_id(call.params)
        chat = self._chat(chat_id)
        if chat["type"] != "private" and chat_id not in self.groups:
            chat["title"] = "Test chat"
        gifts = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                 "premium_subscription": False, "gifts_from_channels": False}
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    async def _get_chat_member(self, call: Call) -> dict[str, Any]:
        # Only the bot's own membership of a declared group is modelled (what a bot asks about itself).
        chat_id = self._require_chat_id(call.params)
        group = self.groups.get(chat_id)
        if group is None or call.params.get("user_id") != self.bot_id:
            raise _ApiError(400, "Bad Request: chat not found" if group is None else "Bad Request: user not found")
        if not group.bot_admin:
            return {"status": "member", "user": self._bot_from()}
        rights = dict.fromkeys(("can_manage_chat", "can_manage_video_chats", "can_restrict_members", "can_change_info",
                                "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
                                "can_pin_messages"), True)
        return {"status": "administrator", "user": self._bot_from(), "can_be_edited": False, "is_anonymous": False,
                "can_promote_members": False, "can_delete_messages": group.can_delete_messages,
                "can_manage_topics": group.can_manage_topics, **rights}

    def _forum(self, params: dict[str, Any]) -> Group:
        chat_id = self._require_chat_id(params)
        group = self.groups.get(chat_id)
        if group is None or not group.is_forum:
            raise _ApiError(400, NOT_A_FORUM)
        return group

    def _topic(self, group: Group, params: dict[str, Any], *, right: str = "can_manage_topics") -> ForumTopic:
        thread = params.get("message_thread_id")
        topic = group.topics.get(thread) if isinstance(thread, int) else None
        if topic is None:
            raise _ApiError(400, THREAD_NOT_FOUND)
        allowed = group.bot_admin and getattr(group, right)
        if not allowed and not (right == "can_manage_topics" and topic.created_by == self.bot_id):
            raise _ApiError(400, "Bad Request: not enough rights to manage topics in the chat")
        return topic

    @staticmethod
    def _topic_name(value: Any) -> str:
        name = "" if value is None else str(value)
        if not name.strip():
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        if len(name) > MAX_TOPIC_NAME_LENGTH:
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
        return name

    def _topic_service_message(self, group: Group, topic: ForumTopic, content: dict[str, Any]) -> None:
        # Telegram posts a service message into the topic for each change (created, edited, closed...).
        message = self._new_bot_message(group.chat_id)
        if content.get("forum_topic_created") is not None:
            message["message_id"] = topic.thread_id
        message.update(content)
        message["message_thread_id"] = topic.thread_id
        message["is_topic_message"] = True
        self._store(message)

    async def _create_forum_topic(self, call: Call) -> dict[str, Any]:
        group = self._forum(call.params)
        if not group.bot_manages_topics:
            raise _ApiError(400, "Bad Request: not enough rights to create a topic")
        name = self._topic_name(call.params.get("name"))
        color = call.params.get("icon_color", 0x6FB9F0)
        if color not in TOPIC_ICON_COLORS:
            raise _ApiError(400, "Bad Request: TOPIC_ICON_COLOR_INVALID")
        # The topic's id is the id of its creation message, from the chat's own message ids.
        thread_id = self._bot_message_ids.get(group.chat_id, 0) + 1
        topic = ForumTopic(thread_id, name, color, created_by=self.bot_id)
        group.topics[thread_id] = topic
        self._topic_service_message(group, topic, {"forum_topic_created": {"name": name, "icon_color": color}})
        return {"message_thread_id": thread_id, "name": name, "icon_color": color}

    async def _edit_forum_topic(self, call: Call) -> bool:
        group = self._forum(call.params)
        topic = self._topic(group, call.params)
        if call.params.get("name") is None and call.params.get("icon_custom_emoji_id") is None:
            raise _ApiError(400, TOPIC_NOT_MODIFIED)
        if call.params.get("name") is not None:
            name = self._topic_name(call.params["name"])
            if name == topic.name:
                raise _ApiError(400, TOPIC_NOT_MODIFIED)
            topic.name = name
            self._topic_service_message(group, topic, {"forum_topic_edited": {"name": name}})
        return True

    async def _close_forum_topic(self, call: Call) -> bool:
        group = self._forum(call.params)
        topic = self._topic(group, call.params)
        if topic.closed:
            raise _ApiError(400, TOPIC_NOT_MODIFIED)
        topic.closed = True
        self._topic_service_message(group, topic, {"forum_topic_closed": {}})
        return True

    async def _reopen_forum_topic(self, call: Call) -> bool:
        group = self._forum(call.params)
        topic = self._topic(group, call.params)
        if not topic.closed:
            raise _ApiError(400, TOPIC_NOT_MODIFIED)
        topic.closed = False
        self._topic_service_message(group, topic, {"forum_topic_reopened": {}})
        return True

    async def _delete_forum_topic(self, call: Call) -> bool:
        group = self._forum(call.params)
        topic = self._topic(group, call.params, right="can_delete_messages")
        self.delete_topic_by_user(group.chat_id, topic.thread_id)
        return True

    async def _send_document(self, call: Call) -> dict[str, Any]:
        """A file sent as a document (uploaded: its bytes are kept in ``call.files``)."""
        params = call.params
        chat_id = self._require_chat_id(params)
        document = params.get("document")
        content: bytes | None = call.files.get("document")
        if content is None and isinstance(document, str) and document.startswith("attach://"):
            content = call.files.get(document[len("attach://"):])
        if content is None:
            raise _ApiError(400, "Bad Request: there is no document in the request")
        caption = params.get("caption")
        message = self._new_bot_message(chat_id)
        message["document"] = {"file_id": f"document-{message['message_id']}",
                               "file_unique_id": f"unique-document-{message['message_id']}", "file_size": len(content)}
        if caption is not None:
            caption = str(caption)
            self._check_length(caption, params.get("parse_mode"), MAX_CAPTION_LENGTH,
                               "Bad Request: message caption is too long")
            message["caption"] = caption
        return self._store(message)

    def _target_message(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored message an edit refers to, or None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._require_chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        return self._existing_or_placeholder(chat_id, message_id)

    async def _edit_message_text(self, call: Call) -> dict[str, Any] | bool:
        params = call.params
        text = self._message_text(params)
        message = self._target_message(params)
        if message is None:
            return True
        if "photo" in message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        markup = params.get("reply_markup")
        kept = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message.get("text") == text and message.get("reply_markup") == kept:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                 "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message["edit_date"] = int(time.time())
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        self._apply_markup(message, params.get("reply_markup"))
        return self._store(message)

    async def _edit_message_caption(self, call: Call) -> dict[str, Any] | bool:
        params = call.params
        message = self._target_message(params)
        if message is None:
            return True
        # A copy (copyMessage) of a voice message, video or file keeps only its caption here.
        if "caption" not in message and not any(kind in message for kind in ("photo", "video", "document", "audio",
                                                                            "voice", "animation")):
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = str(params.get("caption") or "")
        self._check_length(caption, params.get("parse_mode"), MAX_CAPTION_LENGTH,
                           "Bad Request: message caption is too long")
        markup = params.get("reply_markup")
        kept = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message.get("caption", "") == caption and message.get("reply_markup") == kept:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                 "markup are exactly the same as a current content and reply markup of the message")
        if caption:
            message["caption"] = caption
        else:
            message.pop("caption", None)
        message["edit_date"] = int(time.time())
        self._apply_markup(message, markup)
        return self._store(message)

    async def _edit_message_reply_markup(self, call: Call) -> dict[str, Any] | bool:
        message = self._target_message(call.params)
        if message is None:
            return True
        message["edit_date"] = int(time.time())
        self._apply_markup(message, call.params.get("reply_markup"))
        return self._store(message)


async def _serve(port: int) -> None:
    api = FakeBotAPI()
    await api.start(port)
    print(f"fake Bot API on {api.root_url}  token {api.token}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


if __name__ == "__main__":
    # Standalone, for trying the bot by hand:  python -m tests.fakes.bot_api 8081
    import sys

    try:
        asyncio.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8081))
    except KeyboardInterrupt:
        pass
