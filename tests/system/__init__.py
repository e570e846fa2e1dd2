"""Real processes: the bot killed mid-send, several dispatchers and instances, the webhook and HTTP side
inside ``python -m bot``, and the fuzz test. Marked ``slow`` (tests/conftest.py); ``-m "not slow"`` skips them."""
