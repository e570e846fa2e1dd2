"""A fake Telegram Bot API server for benchmarks: answers at once and remembers almost nothing.

Unlike ``tests/fakes/bot_api.py`` (which records every call for assertions, so its memory grows
with each message), this server keeps only counters: how many ``sendMessage`` calls each chat
got, how many it refused with 429, and when the first and last message arrived (wall clock,
so another process can compare it with its own start time).

It runs in its own process, so the CPU a benchmark measures in the dispatcher's process is the
dispatcher's alone::

    python bench/fast_api.py --port 8089            # no limit
    python bench/fast_api.py --port 8089 --limit 30 # Telegram's 30 messages/s, 429 beyond

Bot API methods are served at ``/bot<token>/<method>`` (any token):

* ``sendMessage`` answers a minimal valid ``Message`` (message_id, date, chat). With
  ``--limit N`` it accepts at most N messages in any sliding 1-second window and answers the
  rest ``429 Too Many Requests`` with ``parameters.retry_after = 1``, like Telegram's flood
  control.
* ``getMe`` answers a bot user; ``getUpdates`` waits up to one second and answers ``[]``;
  every other method answers ``true``.

Control endpoints (plain HTTP, for the benchmark driver):

* ``GET /_stats``: counters as JSON (see :meth:`FastBotAPI.stats`).
* ``POST /_reset?limit=N``: zero the counters and set the limit (0 or absent: no limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Bench", "username": "bench_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
_TRUE = b'{"ok":true,"result":true}'
_EMPTY = b'{"ok":true,"result":[]}'
_GET_ME = json.dumps({"ok": True, "result": BOT_USER}).encode()
_TOO_MANY = json.dumps({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}}).encode()


class FastBotAPI:
    """Counters and the request handler; see the module docstring."""

    def __init__(self, limit: int = 0) -> None:
        self.reset(limit)

    def reset(self, limit: int = 0) -> None:
        self.limit = limit
        self.per_chat: dict[int, int] = {}
        self.sent = 0
        self.rejected = 0
        self.first_send_wall: float | None = None
        self.last_send_wall: float | None = None
        self.max_in_window = 0
        self.other_calls = 0
        self._window: deque[float] = deque()

    def stats(self) -> dict:
        duplicates = sum(1 for count in self.per_chat.values() if count > 1)
        return {
            "sent": self.sent,
            "rejected_429": self.rejected,
            "distinct_chats": len(self.per_chat),
            "chats_with_more_than_one": duplicates,
            "first_send_wall": self.first_send_wall,
            "last_send_wall": self.last_send_wall,
            "max_in_1s_window": self.max_in_window,
            "other_calls": self.other_calls,
            "limit": self.limit,
        }

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "sendMessage":
            return await self._send_message(request)
        self.other_calls += 1
        if method == "getMe":
            return web.Response(body=_GET_ME, content_type="application/json")
        if method == "getUpdates":
            await asyncio.sleep(1.0)
            return web.Response(body=_EMPTY, content_type="application/json")
        return web.Response(body=_TRUE, content_type="application/json")

    async def _send_message(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/json":
            params = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        params.update(request.query)
        chat_id = int(params.get("chat_id", 0))
        if self.limit:
            now = time.monotonic()
            window = self._window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.limit:
                self.rejected += 1
                return web.Response(body=_TOO_MANY, status=429, content_type="application/json")
            window.append(now)
            if len(window) > self.max_in_window:
                self.max_in_window = len(window)
        wall = time.time()
        if self.first_send_wall is None:
            self.first_send_wall = wall
        self.last_send_wall = wall
        self.sent += 1
        count = self.per_chat.get(chat_id, 0) + 1
        self.per_chat[chat_id] = count
        message = {"ok": True, "result": {"message_id": count, "date": int(wall),
                                          "chat": {"id": chat_id, "type": "private"}}}
        return web.Response(body=json.dumps(message).encode(), content_type="application/json")

    async def stats_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def reset_handler(self, request: web.Request) -> web.Response:
        self.reset(int(request.query.get("limit", 0) or 0))
        return web.json_response(self.stats())


def make_app(api: FastBotAPI) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app.router.add_get("/_stats", api.stats_handler)
    app.router.add_post("/_reset", api.reset_handler)
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--limit", type=int, default=0, help="messages per sliding second (0: no limit)")
    args = parser.parse_args()
    api = FastBotAPI(args.limit)
    print(f"fast Bot API on http://{args.host}:{args.port} (limit {args.limit or 'none'})", flush=True)
    web.run_app(make_app(api), host=args.host, port=args.port, access_log=None, print=None,
                handle_signals=True)


if __name__ == "__main__":
    main()
