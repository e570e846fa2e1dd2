"""API keys on requests: ``Authorization: Bearer <key>``; a missing, unknown or revoked key is 401.

Checked before the body is read, so a refused request changes nothing but the audit trail, which
records it (refused, by an unknown key); a request with a live key acts as that key's name.
"""

from __future__ import annotations

import functools

from aiohttp import web

from bot.web.common import SERVICES, json_error, write
from jobs.ops import audit
from jobs.ops.api_keys import verify_key

# Where a checked request keeps its key's name (a typed key on aiohttp versions that have them).
KEY_NAME = web.RequestKey("api_key_name", str) if hasattr(web, "RequestKey") else "api_key_name"


def api_key_required(handler):
    """Wrap a route: it runs only with a live key (its name is ``request[KEY_NAME]``)."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        name = None
        if scheme.lower() == "bearer" and presented.strip():
            # A transaction on SQLite takes the write lock (and may record the key's use): queued with the writes.
            name = await write(request, verify_key, presented=presented.strip(), now=services.clock())
        if name is None:
            await write(request, audit.record, action=audit.Action.ACCESS, outcome=audit.Outcome.REFUSED,
                        now=services.clock(), who=audit.Who(audit.ActorKind.API_KEY, audit.Face.API))
            return json_error(401, "unauthorized",
                              "send a live API key: Authorization: Bearer <key> (aftercare api-key create NAME)",
                              headers={"WWW-Authenticate": 'Bearer realm="aftercare"'})
        request[KEY_NAME] = name
        with audit.acting(audit.Who(audit.ActorKind.API_KEY, audit.Face.API, name=name)):
            return await handler(request)

    return checked
