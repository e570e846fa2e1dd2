"""What the bot does, without Telegram: plan and deliver reminders, and every use case behind a command.

The packages, each named after what it holds (its ``__init__`` says what it may import):

- ``patients``: the patient lifecycle (one state machine), enrollment, invites, self-service;
- ``care``: the clinical rules: planning (pure), clinic hours, escalation, answers, photos, silence,
  bookings;
- ``staff``: the inbox, relay of messages, membership, the /enroll form's state, topics, console reads;
- ``dispatch``: the send loop that claims due reminders and records what became of each;
- ``data``: bulk import, exports, copying a database;
- ``ops``: health, metrics, API keys;
- ``storage``: the tables and sessions; imports nothing else of ours.

Beside them, the few modules everything uses: ``refusal`` (one way to say no), ``inputs`` (every typed
value parsed once), ``events`` (what is counted), ``intake`` (inbound updates stored before they are
handled) and ``buttons`` (every inline button: callback data, its one parser, labels, keyboards).

Nothing here imports ``bot``; ``jobs.care.planning`` imports no ``telegram`` and reads no clock.
"""
