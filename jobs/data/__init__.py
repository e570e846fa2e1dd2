"""Data in and out: bulk import of patients, exports (CSV, FHIR), copying a whole database.

May import ``jobs.storage``, ``jobs.patients``, ``jobs.care``, ``jobs.ops`` (health) and the shared ``jobs``
modules; never ``bot``.
"""
