"""The staff console: one set of server-rendered pages under ``/console/``, opened two ways.

In Telegram as a Mini App (``/console/app``; every request signed with ``initData``) or in a browser
at the front desk (a one-time link from ``/console``, then a session cookie). ``identity`` says who is
asking, ``security`` adds the headers every answer carries, ``pages`` holds the routes (each calls the
same functions as the chat commands), ``charts`` draws /stats' figures as SVG. Templates and the
vendored scripts sit beside them; nothing is built.
"""

from bot.web.console.pages import add_routes
from bot.web.console.security import console_headers

__all__ = ["add_routes", "console_headers"]
