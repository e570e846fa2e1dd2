"""The headers on every console answer: what the page may load, who may frame it, and that nothing is cached."""

from __future__ import annotations

from aiohttp import web

PREFIX = "/console"
# Telegram's web clients show a Mini App in a frame; no other site may (clickjacking).
TELEGRAM_WEB_CLIENTS = ("https://web.telegram.org", "https://webk.telegram.org", "https://webz.telegram.org")
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "img-src 'self' data: blob:",  # the invite's QR code is a data: URL; photos come through the console
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
    "frame-ancestors " + " ".join(TELEGRAM_WEB_CLIENTS),
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Patient data on a shared desk computer: never kept by the browser or a proxy.
    "Cache-Control": "no-store",
    # A sign-in link's token must not travel on in a Referer.
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def console_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add :data:`HEADERS` to every answer under ``/console``, refusals and errors included."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response
