"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

python-telegram-bot lets any :class:`~telegram.request.BaseRequest` carry its calls. Its default,
httpx, costs about 0.55 ms of CPU per ``sendMessage``; aiohttp's client about 0.13 ms (bench/,
"components"). At the dispatcher's rates that is the difference between us and Telegram being
the bottleneck, so the bot talks to Telegram through this class. Everything above the HTTP call
(request building, JSON parsing, error classes, the rate limiter) is still python-telegram-bot's.

The request is the one httpx would send: the parameters form-encoded (each value already
JSON-encoded by python-telegram-bot), or multipart when a file is uploaded (the invite QR code).
PTB's timeouts map onto aiohttp's: ``pool`` + ``connect`` → ``connect`` (waiting for a free
connection included), ``connect`` → ``sock_connect``, ``read`` → ``sock_read``. ``write`` has no
counterpart in aiohttp and is not applied: the Bot API calls the bot makes are small enough to fit
in the socket's send buffer, so it is the read that waits, and that is bounded.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

# Where bot/app.py keeps the Application's two request objects (bot_data), for bot/runner.py to close
# after a failed start.
REQUESTS_KEY = "http_requests"


class AiohttpRequest(BaseRequest):
    """A :class:`~telegram.request.BaseRequest` on one ``aiohttp.ClientSession``.

    The session is made in :meth:`initialize` (aiohttp binds it to the running loop) and closed
    in :meth:`shutdown`; python-telegram-bot calls both. Proxies come from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``), as with httpx; they are read once per host, not on every
    request as aiohttp's ``trust_env`` does (that alone cost a fifth of the CPU of a send).
    """

    __slots__ = ("_connection_pool_size", "_proxies", "_session", "timeouts")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connection_pool_size = connection_pool_size
        # The defaults in seconds, by python-telegram-bot's names; a call may override each.
        self.timeouts = {"read": read_timeout, "connect": connect_timeout, "pool": pool_timeout}
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (python-telegram-bot adds it to a long poll's own timeout)."""
        return self.timeouts["read"]

    async def initialize(self) -> None:
        """Open the connection pool (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_pool_size)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})
            self._proxies.clear()

    async def shutdown(self) -> None:
        """Close the pool; a second call does nothing."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One HTTP call to the Bot API: (status code, body). Transport failures become PTB's errors."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._chosen(read_timeout, "read")
        connect = self._chosen(connect_timeout, "connect")
        pool = self._chosen(pool_timeout, "pool")
        # Each step bounded on its own, as httpx does; no total, so a slow transfer that keeps
        # moving is not cut off. (aiohttp has no write timeout; see the module's docstring.)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout,
                                             proxy=self._proxy_for(url), allow_redirects=False) as response:
                return response.status, await response.read()
        # Only the error's class in the message: aiohttp's own texts can carry the URL, which holds
        # the bot token (and a proxy URL its password), and the message reaches logs, the reminder's
        # recorded outcome and staff alerts.
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            raise TimedOut(f"aiohttp: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from None

    def _proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxies = getproxies_environment()
            bypass = proxy_bypass_environment(key[1], proxies) if key[1] else True
            self._proxies[key] = None if bypass else proxies.get(key[0]) or proxies.get("all")
        return self._proxies[key]

    def _chosen(self, value, name: str) -> float | None:
        return self.timeouts[name] if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None) -> dict[str, str] | aiohttp.FormData | None:
    """Form fields as python-telegram-bot prepared them; multipart when there is a file to upload."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        return fields or None
    form = aiohttp.FormData(fields)
    for name, (filename, content, mimetype) in (request_data.multipart_data or {}).items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
