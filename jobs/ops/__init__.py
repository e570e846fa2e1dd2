"""Operations: health (heartbeats, the queue's judgement), metrics read at scrape time, API keys.

May import ``jobs.storage`` and the shared ``jobs`` modules only.
"""
