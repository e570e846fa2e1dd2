"""Staff: the work of the clinic's team.

The inbox of items (``inbox``), relay of patient messages and staff replies, staff membership,
the step-by-step /enroll form's state (``forms``), a patient's forum topic, and what the console and
the list commands read (``console``).

May import ``jobs.storage``, ``jobs.patients``, ``jobs.care``, the shared ``jobs`` modules and
``messages``; never ``bot``.
"""
