"""The proxy middleware on its own (no Ray): the proxy's plain-text 5xx becomes a 503 `{error, detail}`; the
ingress's JSON responses, errors included, pass untouched. Under a real replica kill: test_replica_kill.py."""

import json

import httpx
import pytest

from orchestration.serve.proxy import ProxyErrorsAsJSON, middlewares


def _app(status: int, body: bytes, content_type: bytes):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body[:5], "more_body": True})
        await send({"type": "http.response.body", "body": body[5:], "more_body": False})
    return app


async def _get(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ProxyErrorsAsJSON(app)), base_url="http://proxy") as c:
        return await c.get("/v1/edit")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_plain_text_5xx_from_the_proxy_becomes_a_503_json(status):
    import asyncio

    r = asyncio.run(_get(_app(status, b"Internal Server Error", b"text/plain; charset=utf-8")))
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    body = r.json()
    assert body["error"] == "service_unavailable" and str(status) in body["detail"] and set(body) == {"error", "detail"}


@pytest.mark.parametrize("status, content", [
    (200, {"id": "x"}),
    (500, {"error": "internal_error", "detail": "ValueError: x"}),
    (503, {"error": "agent_unavailable", "detail": "agent 'verifier' is unavailable"}),
    (504, {"error": "timeout", "detail": "the edit did not finish"}),
])
def test_the_ingress_json_passes_untouched(status, content):
    import asyncio

    r = asyncio.run(_get(_app(status, json.dumps(content).encode(), b"application/json")))
    assert (r.status_code, r.json()) == (status, content)


def _no_answer(raise_: bool):
    async def app(scope, receive, send):  # the proxy after the replica holding the request died
        if raise_:
            raise RuntimeError("The actor died unexpectedly before finishing this task.")
    return app


@pytest.mark.parametrize("raise_", [False, True], ids=["returned", "raised"])
def test_no_answer_from_the_proxy_becomes_a_503_json(raise_):
    import asyncio

    r = asyncio.run(_get(_no_answer(raise_)))
    assert r.status_code == 503 and r.json()["error"] == "service_unavailable"


def test_the_callback_returns_starlette_middleware():
    from ray.serve._private.http_util import validate_http_proxy_callback_return  # what the proxy checks

    assert validate_http_proxy_callback_return(middlewares())[0].cls is ProxyErrorsAsJSON
