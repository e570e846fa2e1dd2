"""The invite a patient scans at the front desk: the deep link and its QR code as a PNG."""

from __future__ import annotations

import io

import segno


def invite_link(bot_username: str, token: str) -> str:
    """The ``t.me`` deep link that sends ``/start <token>`` to the bot."""
    return f"https://t.me/{bot_username}?start={token}"


def qr_png(link: str, *, scale: int = 8) -> bytes:
    """A PNG of the QR code for ``link``, large enough to scan from a phone held at arm's length."""
    buffer = io.BytesIO()
    # Error correction "M" survives a glare or a thumb over a corner without a huge code.
    segno.make_qr(link, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
