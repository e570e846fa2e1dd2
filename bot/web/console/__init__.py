"""The staff console: one set of server-rendered pages under ``/console/``, opened two ways.

In Telegram as a Mini App (``/console/app``; every request signed with ``initData``) or in a browser
at the front desk (a one-time link from ``/console``, then a session cookie). ``identity`` says who is
asking, ``security`` adds the headers every answer carries, ``pages`` holds the routes (each calls the
same functions as the chat commands), ``audit_page`` the admins' audit trail, ``charts`` draws
/stats' figures as SVG. Templates and the vendored scripts sit beside them; nothing is built.
"""

from aiohttp import web

from bot.web.console import audit_page, pages
from bot.web.console.security import console_headers


def add_routes(app: web.Application) -> None:
    """Every console page, its static files and the template loader."""
    pages.add_routes(app)
    audit_page.add_routes(app)


def keep_stats_counted(app: web.Application) -> None:
    """The stats page's figures counted in the background while the server runs (a server's, not a test's)."""
    pages.keep_stats_counted(app)


__all__ = ["add_routes", "console_headers", "keep_stats_counted"]
