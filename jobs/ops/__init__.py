"""Operations: health (heartbeats, the queue's judgement), metrics read at scrape time, API keys, the
audit trail (``audit``: every use case that shows or changes a patient's record records itself there),
backups and restores.

May import ``jobs.storage`` and the shared ``jobs`` modules only.
"""
