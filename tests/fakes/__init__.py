"""In-process fakes of the external services Aftercare talks to, for the test suite.

``bot_api`` holds ``FakeBotAPI``, a local HTTP server that speaks the Telegram Bot API so tests
can run the real python-telegram-bot stack (``Bot``, ``Application``, ``HTTPXRequest``) against it.
"""
