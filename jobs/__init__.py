"""Planning and delivery: turning a session into timed reminders, and sending the ones that are due.

``jobs.planning`` is pure (no clock, no database, no Telegram); ``jobs.enrollment`` and
``jobs.invites`` write plans and invites; ``jobs.dispatch`` claims due reminders and sends them.
``jobs.storage`` holds the database models and sessions, and imports nothing else of ours.
"""
