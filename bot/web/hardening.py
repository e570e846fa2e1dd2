"""What every HTTP answer and connection of ours gets: read deadlines, safe headers, a plain ``Server``.

- **Deadlines.** aiohttp waits for a request's headers as long as its keep-alive (an hour by default)
  and for a body as long as the client likes: 250 half-sent requests held 250 connections for good.
  A connection must bring its whole request line and headers within :data:`HEADER_TIMEOUT_SECONDS`
  of opening (or of its previous answer: the same timer closes an idle keep-alive connection), and a
  handler's body within :data:`BODY_TIMEOUT_SECONDS` (:func:`bot.web.common.read_body`); a slow
  client is cut off, whatever it has sent so far.
- **Headers** on every answer, errors and 404s included (a response-prepare signal, which sees the
  answers a middleware never does): ``X-Content-Type-Options: nosniff`` (a browser never guesses a
  JSON answer into HTML), ``Cache-Control: no-store`` (patient data stays out of proxies and browser
  caches; the console's pages use this application too), and ``Server`` without versions.
"""

from __future__ import annotations

from aiohttp import web

# How long a connection may take to send its request line and headers (and how long an idle
# keep-alive connection is kept). Every real client (Prometheus, a practice system, Cal.com,
# Telegram) sends them in one packet.
HEADER_TIMEOUT_SECONDS = 5.0
# How long a handler waits for a whole body (at most 64 KiB: a fraction of a second on any line).
BODY_TIMEOUT_SECONDS = 10.0
# How long a body left unread after the answer is still read (and dropped) before the connection closes.
LINGER_SECONDS = 1.0
SERVER_NAME = "aftercare"
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


async def _safe_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SAFE_HEADERS)
    response.headers["Server"] = SERVER_NAME


def harden(app: web.Application) -> web.Application:
    """Give every answer of ``app`` the safe headers and a plain ``Server`` (once, however often asked)."""
    if _safe_headers not in app.on_response_prepare:
        app.on_response_prepare.append(_safe_headers)
    return app


def runner(app: web.Application, *, header_timeout: float = HEADER_TIMEOUT_SECONDS) -> web.AppRunner:
    """An ``AppRunner`` for ``app`` that cuts off connections slow to send their headers.

    aiohttp's keep-alive timer starts when a connection opens and closes it if no whole request
    arrived by then; with a short timeout it is the header deadline. Of a body left unread after an
    answer (a 413, a 408) at most :data:`LINGER_SECONDS` more is read, so the client sees the answer.
    """
    return web.AppRunner(harden(app), access_log=None, keepalive_timeout=header_timeout,
                         lingering_time=LINGER_SECONDS)
