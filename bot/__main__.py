"""``python -m bot``: run the bot (the same as ``aftercare run``)."""

from bot.cli import main

raise SystemExit(main())
