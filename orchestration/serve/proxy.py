"""A middleware for Ray Serve's HTTP proxy: failures between the proxy and the ingress answer in the API's shape.

Every response the ingress makes is JSON, and every error `{error, detail}`. But when an ingress replica dies with
requests in flight (killed, out of memory, its node lost), the proxy gives up on those requests without starting a
response, and uvicorn answers a plain-text `500 Internal Server Error`; when the proxy sheds load it answers a
plain-text 503. `ProxyErrorsAsJSON` answers both - no response started, or a non-JSON 5xx - with
`503 {"error": "service_unavailable", "detail": ...}` and `Retry-After`: the same retryable error a client gets
when an agent deployment is unavailable. Responses of the ingress (JSON) pass untouched.

It runs inside the proxy, installed through Ray Serve's proxy callback: the environment variable
`RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=orchestration.serve.proxy:middlewares` must be set where the proxy
starts. `editrl serve` sets it before it starts Ray; for `serve run` / `serve deploy` set it where the cluster
starts, as for EDITRL_SERVE_TOKEN. Pure ASGI (no Starlette `BaseHTTPMiddleware`), so it adds no buffering.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.middleware import Middleware

#: The environment variable Ray Serve reads in the proxy, and the value that installs this module's middleware.
CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
CALLBACK = "orchestration.serve.proxy:middlewares"

Message = dict[str, Any]


class ProxyErrorsAsJSON:
    """ASGI middleware: a non-JSON 5xx response becomes a 503 `{error, detail}` (module docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = replaced = False

        async def unavailable(why: str) -> None:
            body = json.dumps({"error": "service_unavailable", "detail": (
                f"the service could not finish this request ({why}: an ingress replica failed or is overloaded); "
                "retry in a few seconds")}).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"retry-after", b"5")]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        async def send_json_errors(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                started = True
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if message["status"] >= 500 and not headers.get(b"content-type", b"").startswith(b"application/json"):
                    replaced = True
                    await unavailable(f"the proxy answered {message['status']}")
                    return
            elif replaced:
                return  # the proxy's own plain-text body: already answered
            await send(message)

        try:
            await self.app(scope, receive, send_json_errors)
        except Exception:
            if started:
                raise
            await unavailable("the proxy failed before answering")
            return
        if not started:  # what the proxy does when the replica holding the request died
            await unavailable("the proxy got no answer from the ingress")


def middlewares() -> list[Middleware]:
    """The proxy callback named by CALLBACK."""
    return [Middleware(ProxyErrorsAsJSON)]
