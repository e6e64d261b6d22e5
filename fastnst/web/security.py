"""HTTP hardening for every response and request: security headers and cross-site request
refusal, as pure ASGI middleware."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Everything from the site itself; images and camera frames may be blob: URLs made by the
# page's script; the camera page opens a WebSocket back to the site. No inline scripts or
# styles anywhere (the API docs page sends its own policy with its script's hash).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",
    b"permissions-policy": b"camera=(self), microphone=(), geolocation=()",
    b"cross-origin-opener-policy": b"same-origin",
}
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


async def send_json(send: Send, status: int, detail: str) -> None:
    """A complete JSON error response {"detail": ...}."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def cross_site(scope: Scope) -> bool:
    """Whether a request was sent by another site's page (a CSRF attempt).

    Browsers send Sec-Fetch-Site on every request and Origin on every cross-origin and
    every POST/DELETE one; requests without either (curl, scripts) carry no cookies
    a victim's browser could lend, so they pass.
    """
    if _header(scope, b"sec-fetch-site") in ("cross-site", "same-site"):
        return True
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    host = _header(scope, b"host") or ""
    return urlsplit(origin).netloc.lower() != host.lower()


class SecurityMiddleware:
    """Adds SECURITY_HEADERS (and the CSP unless a response set its own) to every response,
    and refuses cross-site state changes (403), cross-site WebSockets (close 1008) and
    requests whose Content-Length is over max_body bytes (413, JSON, before any of the body
    is read).

    The body limit itself is FastAPI's (`include_router(max_body_size=...)`, see
    fastnst.web.app): it counts the bytes of streamed bodies too. Measured with FastAPI
    0.165 / Starlette 1.10: when Content-Length is over the limit, Starlette's limiter
    replaces whatever the app answers with a plain-text "Content Too Large", so that one
    case is answered here, outside it, in the API's JSON shape.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and cross_site(scope):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in UNSAFE_METHODS and cross_site(scope):
            await send_json(send, 403, "cross-site request refused")
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await send_json(send, 413, body_too_large(self.max_body))
            return

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy",
                                    CONTENT_SECURITY_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, secured_send)


def body_too_large(max_body: int) -> str:
    """The 413 answer's detail for a limit of max_body bytes."""
    return f"request body over the limit of {max_body / 1e6:g} MB"
