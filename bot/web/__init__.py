"""The HTTP side, off by default (HTTP_PORT): an aiohttp server inside the bot process.

One module per idea: ``app`` assembles the routes and starts the server, ``common`` holds what the
routes share (the application keys, JSON answers, reading a bounded body), ``access_log`` logs each
request, ``health`` and ``metrics`` watch the bot, ``auth`` checks API keys, ``api`` enrolls and
reads patients, ``hooks`` takes signed booking calls, ``openapi`` describes all of it.
"""
