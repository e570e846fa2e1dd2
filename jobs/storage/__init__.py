"""Storage: the database models and the session helpers. Imports nothing of ``bot`` or the rest of ``jobs``.

It lives inside ``jobs/`` because the project's top-level folders are fixed (``bot/``, ``jobs/``,
``messages/``); ``jobs/__init__.py`` is empty so importing this package pulls in nothing else.
"""
