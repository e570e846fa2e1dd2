"""Patients: who they are and where they stand.

The lifecycle state machine (``lifecycle``: the only writer of ``Patient.status``), enrollment of a
new patient (``enrollment``, and ``enrollment_request`` for a record of fields), invites,
confirmation prompts, and what a linked patient may do to their own data (``self_service``).

May import ``jobs.storage``, ``jobs.care`` (planning), the shared ``jobs`` modules and ``messages``;
never ``bot``.
"""
