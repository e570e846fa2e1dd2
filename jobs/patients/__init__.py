"""Patients: who they are and where they stand.

One idea per module: the lifecycle state machine (``lifecycle``: the only writer of ``Patient.status``,
DESIGN decision 10) and the README table generated from it (``lifecycle_table``); what a status change
does to reminders in bulk (``reminder_moves``); what erasure removes (``erasure``); read-only queries
of a chat's records and a patient's current cycle (``queries``); enrollment of a new patient
(``enrollment``, and ``enrollment_request`` for a record of fields), invites, confirmation prompts,
and what a linked patient may do to their own data (``self_service``).

May import ``jobs.storage``, ``jobs.care`` (planning), the shared ``jobs`` modules and ``messages``,
and from ``jobs.staff`` only what a lifecycle change touches there (``inbox`` items erased,
``topics`` marked to close or reopen); never ``bot``.
"""
