"""One log line per HTTP request: method, path, status and time. Never a body, a query or a name.

A client that goes away before its answer is a warning, not an error: it is the client's doing.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from jobs.storage.db import is_busy

log = logging.getLogger(__name__)
# A path is ours or a scanner's: either way no more of it than this reaches the log.
MAX_LOGGED_PATH = 120
# The status the request log shows for a client that went away before its answer (nginx's 499).
CLIENT_GONE = 499


def _reason(exc: BaseException) -> str:
    """An error's class only: its text may carry a request's values."""
    orig = getattr(exc, "orig", None)
    return f"{type(exc).__name__}: {type(orig).__name__}" if orig is not None else type(exc).__name__


@web.middleware
async def log_requests(request: web.Request, handler) -> web.StreamResponse:
    """Log the request once it is answered; an unexpected error is a 500 logged by its class."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except ConnectionError:
        # The client hung up (or was cut off) before its answer: nothing of ours failed. Raised on,
        # aiohttp would log it with a traceback as an error; an answer to nobody is dropped quietly.
        log.warning("http %s %s: the client went away before its answer", request.method, logged_path(request))
        status = CLIENT_GONE
        response = web.Response(status=CLIENT_GONE)
        response.force_close()
        return response
    except Exception as exc:  # noqa: BLE001 - answered 500; the text may hold a patient's values
        if is_busy(exc):
            # SQLite's write lock stayed taken past the wait: nothing was done, the caller may retry.
            log.warning("http %s %s: database busy", request.method, logged_path(request))
            status = 503
            return web.json_response({"error": "busy", "message": "the database is busy: try again in a moment"},
                                     status=503, headers={"Retry-After": "1"})
        log.error("http %s %s failed (%s)", request.method, logged_path(request), _reason(exc))
        status = 500
        return web.json_response({"error": "internal", "message": "something went wrong on our side"}, status=500)
    finally:
        log.info("http %s %s %d %.1f ms", request.method, logged_path(request), status,
                 (time.perf_counter() - started) * 1000)


def logged_path(request: web.Request) -> str:
    """The request's path as the log may show it."""
    # The raw path (no query string: a key or a reference could be pasted there), printable only.
    path = request.rel_url.raw_path
    return "".join(char if char.isprintable() else "?" for char in path[:MAX_LOGGED_PATH])
