"""Logging set-up: one format, chatty libraries turned down, the bot token scrubbed from every line,
and exception texts that cannot carry a patient's name.
"""

from __future__ import annotations

import logging
import traceback

# httpx logs each request URL at INFO, and Bot API URLs contain the token; python-telegram-bot's
# Bot logs every request's parameters at DEBUG, and those carry patient names and texts. The bot
# sends through aiohttp (bot/http_client.py), whose client logs little; it is capped all the same.
QUIET_LOGGERS = ("httpx", "httpcore", "aiohttp", "apscheduler", "alembic", "telegram.Bot", "telegram.ext.ExtBot")


class RedactFilter(logging.Filter):
    """Replace secrets in a record's final message, whatever logger or library wrote it."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self._redact(message), None
        if record.exc_text and any(secret in record.exc_text for secret in self.secrets):
            record.exc_text = self._redact(record.exc_text)
        return True

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text


# Exceptions whose text we write ourselves or Telegram does (an error description: no patient data).
# Every other exception's text may quote what it was given -- a driver quotes a value it refused,
# a KeyError its key, a ValueError its input -- so only its type and where it happened are logged.
_TELLING_TYPES = ("telegram.error.", "bot.settings.", "messages.errors.")


def _safe_text(error: BaseException) -> str:
    kind = type(error)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if name.startswith(_TELLING_TYPES):
        return f"{name}: {error}"
    orig = getattr(error, "orig", None)  # SQLAlchemy's DBAPIError: name the driver's error class and code
    if isinstance(orig, BaseException):
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        detail = f" ({type(orig).__name__}{' ' + code if code else ''})"
        if "database is locked" in str(orig):
            detail = f" ({type(orig).__name__}: database is locked)"
        return f"{name}{detail}"
    return f"{name} (text not logged: it may quote patient data)"


def safe_traceback(error: BaseException) -> str:
    """A traceback of ``error`` and its causes: the frames (code only), each exception's type, no texts."""
    parts: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        frames = "".join(traceback.format_tb(error.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{_safe_text(error)}")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\n\nwhich was raised while handling, or caused by:\n".join(parts)


class PrivateExceptionFilter(logging.Filter):
    """Write a record's exception without the exception texts (see :func:`safe_traceback`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and not getattr(record, "_private_exc", False):
            record.exc_text = safe_traceback(record.exc_info[1])
            record._private_exc = True
        return True


def install_filters(handler: logging.Handler, *secrets: str) -> None:
    """What every handler that writes the bot's log gets: secrets redacted, exception texts kept out."""
    handler.addFilter(PrivateExceptionFilter())
    handler.addFilter(RedactFilter(*secrets))
    handler.addFilter(StartupTracebackFilter())


class StartupTracebackFilter(logging.Filter):
    """Drop python-telegram-bot's traceback when start-up cannot reach Telegram: the CLI says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("telegram.ext") and "Bootstrap" in record.getMessage())


# python-telegram-bot logs whole updates (names, message texts) at DEBUG: never below INFO.
AT_MOST_INFO = ("telegram",)


def quiet_libraries() -> None:
    """Turn the libraries that log request URLs (and so the token) or updates (names) down."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in AT_MOST_INFO:
        logging.getLogger(name).setLevel(logging.INFO)


def configure_logging(level: str, *secrets: str) -> None:
    """Log to stderr at ``level``; never let ``secrets`` through."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        install_filters(handler, *secrets)
    quiet_libraries()
