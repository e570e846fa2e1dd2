"""Yes/no prompts that act only on themselves: /stop and /delete ask first, and only that prompt's
button (carrying a fresh nonce stored here) can confirm.

A button's callback data is whatever a Telegram client sends: without the nonce, a forged
``cf:delete:yes`` would erase a patient's data without the /delete step. One open prompt per chat;
asking again replaces it, answering (either way) closes it, and it lapses after ``PROMPT_TTL``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import Session

from jobs.storage.models import Confirmation

PROMPT_TTL = timedelta(hours=1)


def open_prompt(session: Session, *, chat_id: int, action: str, now: datetime) -> str:
    """Record a new prompt for ``action`` in the chat (replacing any other); return its nonce."""
    nonce = secrets.token_urlsafe(12)  # 16 characters: the whole callback data stays far below 64 bytes
    prompt = session.get(Confirmation, chat_id) or Confirmation(chat_id=chat_id, action=action, nonce=nonce,
                                                                created_at=now)
    prompt.action, prompt.nonce, prompt.created_at = action, nonce, now
    session.add(prompt)
    return nonce


def close_prompt(session: Session, *, chat_id: int, action: str, nonce: str, now: datetime) -> bool:
    """Whether the chat's open prompt is this one (then it is closed); False for a forged or old button."""
    prompt = session.get(Confirmation, chat_id)
    if prompt is None:
        return False
    if prompt.created_at < now - PROMPT_TTL:
        session.delete(prompt)
        return False
    if prompt.action != action or not secrets.compare_digest(prompt.nonce, nonce):
        return False
    session.delete(prompt)
    return True
