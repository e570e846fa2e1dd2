"""``GET /r/<token>``: a review request's link, counted as opened, then sent on to REVIEW_URL.

The token is the reminder's id signed with a key derived from the bot token
(jobs/care/outcomes.py), so nobody counts a press for another patient's request; a token we did
not make, or one whose row is gone, still goes on to REVIEW_URL (the patient wanted to review) and
counts nothing. The redirect carries nothing about the patient to the review site.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.common import SERVICES, write
from jobs.care.outcomes import note_review_opened, read_review_token


async def review_redirect(request: web.Request) -> web.StreamResponse:
    """Count the press once and answer 302 to REVIEW_URL; 404 while no REVIEW_URL is set."""
    services = request.app[SERVICES]
    target = services.settings.review_url
    if not target:
        raise web.HTTPNotFound()
    reminder_id = read_review_token(request.match_info["token"], secret=services.settings.review_secret)
    if reminder_id is not None:
        await write(request, note_review_opened, reminder_id=reminder_id, now=services.clock())
    # No caching: each press reaches us, and a shared cache never answers for another patient.
    raise web.HTTPFound(target, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def add_routes(app: web.Application) -> None:
    """Register ``/r/<token>``."""
    app.router.add_get("/r/{token}", review_redirect, allow_head=False)
