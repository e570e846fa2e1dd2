"""Care: the clinical rules between sessions.

Planning as a pure function (``planning``), clinic hours, which answers escalate (``escalation``),
patients' button answers, photo check-ins, silence noticed, and bookings from the clinic's system.

``planning``, ``clinic_hours`` and ``escalation`` are pure (no database, no clock). The others may
import ``jobs.storage``, ``jobs.patients`` (lifecycle moves), the shared ``jobs`` modules and
``messages``; never ``bot``.
"""
