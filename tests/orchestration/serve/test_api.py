"""API v1 over HTTP against a real Serve instance (one per module): happy paths, 30 kinds of bad input, auth, 504,
the Host check, what /v1/agents and a 500 may show, and the docs pages' local assets.

Four applications share the instance: the rule-based Canvas pipeline behind a bearer token with small limits; a
one-agent pipeline whose plug-in editor sleeps, behind a 0.5 s request timeout; the rule pipeline with every agent
inside the ingress, without a token; and a one-agent pipeline whose plug-in editor fails, with a model path and an
option that must not be shown.
"""

import asyncio
import base64
import io
import json
import re
import struct
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
import ray
from PIL import Image
from ray import serve

from agents.base import Agent, EditResult, EpisodeState
from envs.canvas.generator import generate_task, generate_tasks
from envs.image_io import encode_png
from orchestration.config import ConfigError, load_config
from orchestration.pipeline import Pipeline
from orchestration.serve.app import build_app
from orchestration.serve.config import parse_args

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMITS = {"max_body_bytes": 200_000, "max_image_bytes": 100_000, "max_pixels": 250_000, "formats": ["PNG", "JPEG"],
          "max_instruction_chars": 300}


class SlowEditor(Agent):
    """A plug-in editor that takes `delay_s` and returns the source image: for the timeout test."""

    role = "editor"
    backend = "slow"

    def __init__(self, delay_s: float = 3.0):
        self.delay_s = delay_s

    def act(self, state: EpisodeState) -> EditResult:
        time.sleep(self.delay_s)
        return EditResult(image_png=state.source_png)


SECRET_DIR = "/srv/private-models-4c1f/editor-weights-v3"  # a path and a key that /v1/agents and errors must not show
SECRET_KEY = "sk-live-91e0d7"


class FailingEditor(Agent):
    """A plug-in editor that fails on every request - raising an exception that quotes its model path and key, or,
    for an instruction with "wrong output", returning something that is not an edit - for the 500 tests."""

    role = "editor"
    backend = "failing"

    def __init__(self, model: str, api_key: str):
        self.model, self.api_key = model, api_key

    def describe(self) -> dict:
        return {**super().describe(), "model": self.model}

    def act(self, state: EpisodeState) -> EditResult:
        if "wrong output" in state.instruction:
            return "not an EditResult"  # type: ignore[return-value]
        raise RuntimeError(f"cannot read {self.model}/shard-00003 with key {self.api_key}")


@pytest.fixture(scope="module")
def server(serve_http):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the plug-in lives in this test module
    # The sorter batches with @serve.batch (any agent can: act_batch defaults to a loop), to test that path.
    main = build_app({"pipeline": "canvas_rule", "auth_token": TOKEN, "limits": LIMITS, "request_timeout_s": 20,
                      "deployments": {"sorter": {"batching": True, "max_batch_size": 8, "batch_wait_timeout_s": 0.02}}})
    slow = build_app({"pipeline": "editor_only", "auth_token_env": None, "request_timeout_s": 0.5,
                      "overrides": [f"editor.cls={__name__}:SlowEditor", "editor.options={delay_s: 3}", "graph.nodes=[editor]"]})
    # The same rule pipeline with every agent inside the ingress (placement: ingress): no agent deployments.
    # No token; one more name for the Host header.
    near = build_app({"pipeline": "canvas_rule", "auth_token_env": None, "request_timeout_s": 20, "allowed_hosts": ["editrl.example"],
                      "deployments": {n: {"placement": "ingress"} for n in ("thinker", "decomposer", "sorter", "editor", "verifier")}})
    broken = build_app({"pipeline": "editor_only", "auth_token_env": None, "request_timeout_s": 20,
                        "overrides": [f"editor.cls={__name__}:FailingEditor", f"editor.model={SECRET_DIR}",
                                      f"editor.options={{api_key: {SECRET_KEY}}}", "graph.nodes=[editor]"],
                        "deployments": {"editor": {"placement": "ingress"}}})
    serve.run_many([serve.RunTarget(main, name="main", route_prefix="/"), serve.RunTarget(slow, name="slow", route_prefix="/slow"),
                    serve.RunTarget(near, name="near", route_prefix="/near"), serve.RunTarget(broken, name="broken", route_prefix="/broken")])
    yield f"http://127.0.0.1:{serve_http['port']}"


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def task():
    return generate_task(3, seed=0, split="test")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _good(client, task) -> dict:
    r = client.post("/v1/edit", json={"image_base64": _b64(task.source_png), "instruction": task.instruction}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


# -- happy paths ---------------------------------------------------------------------------------------------------


def test_json_edit_matches_the_in_process_pipeline(client, task):
    body = _good(client, task)
    assert set(body) >= {"id", "image_base64", "plan", "components", "subrequests", "checklist", "score", "timings_ms"}
    local = Pipeline.local(load_config("canvas_rule")).run(EpisodeState(task_id="x", instruction=task.instruction, source_png=task.source_png))
    final = local.state
    assert base64.b64decode(body["image_base64"]) == final.edit.image_png  # the same graph, the same pixels
    assert body["plan"] == final.plan.text
    assert body["components"] == [c.model_dump() for c in final.decomposition.components]
    assert body["subrequests"] == final.subrequests.items
    assert body["checklist"] == [{"question": i.question, "answer": i.answer, "reason": i.reason} for i in final.verdict.items]
    assert body["score"] == pytest.approx(final.verdict.score)
    assert body["understood"] is True and body["message"] is None
    assert list(body["timings_ms"]) == ["thinker", "decomposer", "sorter", "editor", "verifier"]
    assert Image.open(io.BytesIO(base64.b64decode(body["image_base64"]))).format == "PNG"


def test_an_instruction_read_as_no_edit_says_so_and_scores_0(client, task):
    # The rule pipeline reads nothing into this; the image comes back unchanged, and the answer must not read as
    # a near-perfect score.
    r = client.post("/v1/edit", json={"image_base64": _b64(task.source_png), "instruction": "make it nicer"}, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["understood"] is False and "no edit understood" in body["message"] and "rephrase" in body["message"]
    assert body["score"] == 0.0 and body["passed"] is False and body["applied"] == []
    assert base64.b64decode(body["image_base64"]) == Pipeline.local(load_config("canvas_rule")).run(
        EpisodeState(task_id="x", instruction="make it nicer", source_png=task.source_png)).state.edit.image_png


def test_agents_placed_in_the_ingress_give_the_same_answer_without_deployments(client, task):
    body = _good(client, task)
    r = client.post("/near/v1/edit", json={"image_base64": _b64(task.source_png), "instruction": task.instruction})
    assert r.status_code == 200, r.text
    near = r.json()
    for key in ("image_base64", "plan", "components", "subrequests", "checklist", "score"):
        assert near[key] == body[key], key
    agents = client.get("/near/v1/agents").json()["agents"]
    assert {a["placement"] for a in agents.values()} == {"ingress"} and all(a["calls"] >= 1 for a in agents.values())
    assert {a["placement"] for a in client.get("/v1/agents", headers=AUTH).json()["agents"].values()} == {"deployment"}
    assert set(serve.status().applications["near"].deployments) == {"EditService"}  # the ingress alone


def test_multipart_edit_with_options_and_data_url(client, task):
    r = client.post("/v1/edit", files={"image": ("in.png", task.source_png, "image/png")},
                    data={"instruction": task.instruction, "options": json.dumps({"timeout_s": 10, "max_rounds": 0})}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["checklist"] and r.json()["rounds"] == 1
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(task.source_png)).convert("RGB").save(jpeg, format="JPEG", quality=95)
    r = client.post("/v1/edit", json={"image_base64": "data:image/jpeg;base64," + _b64(jpeg.getvalue()),
                                      "instruction": "make the background white"}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_health_agents_sample_docs_and_page(client):
    assert client.get("/healthz").json() == {"status": "ok", "pipeline": "canvas_rule", "auth": True}
    agents = client.get("/v1/agents", headers=AUTH).json()
    assert agents["order"] == ["thinker", "decomposer", "sorter", "editor", "verifier"]
    assert agents["agents"]["editor"]["backend"] == "canvas" and agents["agents"]["thinker"]["backend"] == "rule"
    assert all("checkpoint" in a for a in agents["agents"].values())
    assert [n for n, a in agents["agents"].items() if a["batching"]] == ["sorter"]
    assert agents["agents"]["sorter"]["max_batch_size"] == 8
    sample = client.get("/v1/sample", params={"seed": 5}, headers=AUTH).json()
    expected = generate_task(5, 0, "test")
    assert sample["instruction"] == expected.instruction and base64.b64decode(sample["image_base64"]) == expected.source_png
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/edit"]["post"]["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    page = client.get("/")
    assert page.status_code == 200 and 'id="submit-btn"' in page.text


def test_concurrent_requests_all_succeed(server, task):
    async def main():
        async with httpx.AsyncClient(base_url=server, timeout=60, headers=AUTH) as c:
            tasks = list(generate_tasks(16, seed=11, split="test"))
            rs = await asyncio.gather(*(c.post("/v1/edit", json={"image_base64": _b64(t.source_png), "instruction": t.instruction})
                                        for t in tasks))
            return rs
    before = httpx.get(server + "/v1/agents", headers=AUTH).json()["agents"]["sorter"]
    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 16
    assert len({r.json()["id"] for r in responses}) == 16
    after = httpx.get(server + "/v1/agents", headers=AUTH).json()["agents"]["sorter"]
    calls, batches = after["calls"] - before["calls"], after["batches"] - before["batches"]
    assert calls == 16 and batches < calls  # concurrent requests shared act_batch calls


# -- bad input -----------------------------------------------------------------------------------------------------


def _png(w: int, h: int, color=(10, 200, 30)) -> bytes:
    return encode_png(Image.new("RGB", (w, h), color))


def _bomb_png(w: int = 100_000, h: int = 100_000) -> bytes:
    """A valid PNG header declaring w x h pixels, with almost no data: a decompression bomb's first bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(buf, format="GIF")
    return buf.getvalue()


def _json(image: bytes | str, instruction="make the red circle blue", **extra) -> dict:
    return {"json": {"image_base64": image if isinstance(image, str) else _b64(image), "instruction": instruction, **extra}}


def _multipart(image=None, instruction="make the red circle blue", **fields) -> dict:
    parts = {"image": ("in.png", image, "image/png")} if image is not None else {}
    if instruction is not None:
        parts["instruction"] = (None, instruction)
    parts.update({k: (None, v) for k, v in fields.items()})
    return {"files": parts}


def _chunked_big():
    def gen():
        for _ in range(30):
            yield b"x" * 10_000
    return {"content": gen(), "headers": {"content-type": "application/json"}}


PNG = _png(64, 64)
NOISE = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)

BAD = {
    "malformed JSON": (400, "malformed_json", {"content": b'{"image_base64": ', "headers": {"content-type": "application/json"}}),
    "JSON not UTF-8": (400, "malformed_json", {"content": b'{"instruction": "\xff"}', "headers": {"content-type": "application/json"}}),
    "JSON array": (422, "invalid_request", {"json": [1, 2, 3]}),
    "JSON nested too deeply": (400, "malformed_json", {"content": b"[" * 50_000 + b"]" * 50_000, "headers": {"content-type": "application/json"}}),
    "instruction with a lone surrogate": (422, "invalid_instruction", {"content": b'{"image_base64": "' + base64.b64encode(PNG) + b'", "instruction": "\\ud800 red"}',
                                                                       "headers": {"content-type": "application/json"}}),
    "missing image_base64": (422, "invalid_request", {"json": {"instruction": "make it blue"}}),
    "missing instruction": (422, "invalid_request", {"json": {"image_base64": _b64(PNG)}}),
    "unknown field": (422, "invalid_request", _json(PNG, extra_field=1)),
    "instruction not text": (422, "invalid_request", _json(PNG, instruction=123)),
    "blank instruction": (422, "empty_instruction", _json(PNG, instruction="   ")),
    "instruction too long": (422, "instruction_too_long", _json(PNG, instruction="make it red " * 40)),
    "bad base64 characters": (400, "invalid_base64", _json("!!!!not*base64")),
    "bad base64 padding": (400, "invalid_base64", _json("abcde")),
    "empty base64": (422, "empty_image", _json("")),
    "base64 of text": (400, "invalid_image", _json(b"hello, this is not an image")),
    "truncated PNG": (400, "invalid_image", _json(_png(64, 64, (1, 2, 3))[:60])),
    "data URL of text": (415, "unsupported_media_type", _json("data:text/plain;base64,aGVsbG8=")),
    "image bytes over limit": (413, "image_too_large", _json(encode_png(np.random.default_rng(1).integers(0, 255, (190, 190, 3), dtype=np.uint8)))),
    "too many pixels": (413, "too_many_pixels", _json(_png(600, 600))),
    "decompression bomb": (413, "too_many_pixels", _json(_bomb_png())),
    "format not accepted": (415, "unsupported_image_format", _json(_gif())),
    "image too small": (422, "image_too_small", _json(_png(4, 4))),
    "options not an object": (422, "invalid_request", _json(PNG, options=[1])),
    "unknown option": (422, "invalid_request", _json(PNG, options={"speed": "fast"})),
    "timeout above server's": (422, "invalid_options", _json(PNG, options={"timeout_s": 999})),
    "reflection above pipeline's": (422, "invalid_options", _json(PNG, options={"max_rounds": 3})),
    "wrong content type": (415, "unsupported_media_type", {"content": b"image=...", "headers": {"content-type": "text/plain"}}),
    "no content type": (415, "unsupported_media_type", {"content": b"{}"}),
    "form-urlencoded": (415, "unsupported_media_type", {"data": {"instruction": "x"}}),
    "Content-Length over limit": (413, "body_too_large", {"content": b"x" * 250_000, "headers": {"content-type": "application/json"}}),
    "chunked body over limit": (413, "body_too_large", _chunked_big()),
    "multipart without boundary": (400, "malformed_multipart", {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}),
    "multipart missing image": (422, "invalid_request", _multipart(None)),
    "multipart missing instruction": (422, "invalid_request", _multipart(PNG, instruction=None)),
    "multipart image as text": (422, "invalid_request", {"files": {"image": (None, "abc"), "instruction": (None, "x")}}),
    "multipart options not JSON": (400, "malformed_json", _multipart(PNG, options="{timeout: 1")),
    "multipart unknown option": (422, "invalid_options", _multipart(PNG, options='{"retries": 2}')),
    "multipart unknown field": (422, "invalid_request", _multipart(PNG, colour="red")),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_a_4xx_with_error_and_detail_and_the_service_keeps_serving(client, task, case):
    status, error, kwargs = BAD[case]
    kwargs = dict(kwargs)
    headers = {**AUTH, **kwargs.pop("headers", {})}
    r = client.post("/v1/edit", headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    assert (r.status_code, body["error"]) == (status, error), body
    _good(client, task)


@pytest.mark.parametrize("method, path, status", [("GET", "/v1/edit", 405), ("GET", "/nowhere", 404), ("DELETE", "/healthz", 405)])
def test_wrong_routes_and_methods_answer_in_the_same_shape(client, method, path, status):
    r = client.request(method, path, headers=AUTH)
    assert r.status_code == status and set(r.json()) == {"error", "detail"}


def test_bad_query_parameter(client):
    r = client.get("/v1/sample", params={"seed": "-1"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and "seed" in r.json()["detail"]


def test_noise_image_is_still_a_valid_request(client):
    # Not Canvas, not a client error: any picture the limits admit is edited or answered within the timeout.
    r = client.post("/v1/edit", headers=AUTH, **_json(encode_png(NOISE[:48, :48]), instruction="make the red circle blue"))
    assert r.status_code in (200, 504), r.text


# -- auth and timeouts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}])
def test_token_is_required_on_v1(client, task, headers):
    for method, path, kwargs in [("POST", "/v1/edit", _json(task.source_png)), ("GET", "/v1/agents", {}), ("GET", "/v1/sample", {})]:
        r = client.request(method, path, headers=headers, **kwargs)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "unauthorized" and r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200


def test_request_past_its_timeout_is_a_504_and_the_service_keeps_serving(client, task):
    start = time.monotonic()
    r = client.post("/slow/v1/edit", **_json(task.source_png))
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "timeout" and "0.5 s" in r.json()["detail"]
    assert time.monotonic() - start < 2.5  # answered at the timeout, not when the agent finishes (3 s)
    r = client.post("/v1/edit", headers=AUTH, **_json(task.source_png, options={"timeout_s": 0.001}))
    assert r.status_code == 504 and set(r.json()) == {"error", "detail"}
    _good(client, task)
    assert client.get("/slow/healthz").status_code == 200


# -- the Host header -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, headers", [("", AUTH), ("/near", {})], ids=["token", "no token"])
def test_a_host_header_naming_another_site_is_refused(client, task, prefix, headers):
    # DNS rebinding: a page at evil.example re-points its name at 127.0.0.1; the browser then sends its requests
    # here with `Host: evil.example:<port>`, and with the token check off it would read and edit freely.
    port = client.base_url.port
    evil = {**headers, "Host": f"evil.example:{port}"}
    for path in ("/", "/healthz", "/docs", "/redoc", "/openapi.json", "/v1/agents", "/v1/sample"):
        r = client.get(prefix + path, headers=evil)
        assert r.status_code == 421, (path, r.status_code, r.text[:200])
        body = r.json()
        assert body["error"] == "host_not_allowed" and "allowed_hosts: [evil.example]" in body["detail"], body
    r = client.post(prefix + "/v1/edit", headers=evil, **_json(task.source_png))
    assert r.status_code == 421 and r.json()["error"] == "host_not_allowed"
    # The machine's own names and addresses, with any port (an SSH tunnel changes it), are answered.
    for host in (f"localhost:{port}", "localhost:9999", f"127.0.0.1:{port}", "[::1]:8000", "LOCALHOST."):
        assert client.get(prefix + "/healthz", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_adds_names(client):
    assert client.get("/near/healthz", headers={"Host": "editrl.example:8443"}).status_code == 200
    assert client.get("/near/v1/agents", headers={"Host": "EDITRL.example"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "editrl.example"}).status_code == 421  # only where configured
    with pytest.raises(ConfigError, match="allowed_hosts.*not a host name"):
        parse_args({"allowed_hosts": ["http://editrl.example:8000"]})


# -- what the service shows about itself --------------------------------------------------------------------------


def test_agents_show_model_labels_not_paths_or_options(client):
    r = client.get("/broken/v1/agents")
    assert r.status_code == 200, r.text
    assert SECRET_DIR.rsplit("/", 1)[0] not in r.text and SECRET_KEY not in r.text, r.text
    editor = r.json()["agents"]["editor"]
    assert editor["checkpoint"] == editor["model"] == "editor-weights-v3"  # which weights, without where they live
    for agents in (r.json()["agents"], client.get("/v1/agents", headers=AUTH).json()["agents"]):
        assert all("options" not in a for a in agents.values())


@pytest.mark.parametrize("instruction, error, what", [
    ("make the red circle blue", "pipeline_failed", "agent 'editor' failed"),
    ("wrong output please", "internal_error", "could not build the answer"),
], ids=["agent raised", "agent returned the wrong type"])
def test_a_500_names_no_internals_and_the_log_keeps_them_under_the_request_id(client, task, instruction, error, what):
    r = client.post("/broken/v1/edit", **_json(task.source_png, instruction=instruction))
    assert r.status_code == 500, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == error and what in body["detail"], body
    for leak in (SECRET_DIR, SECRET_KEY, "shard-00003", "RuntimeError", "AttributeError", "Traceback"):
        assert leak not in r.text, leak
    rid = r.headers["x-request-id"]  # Serve's id, the one its own log lines carry
    assert f"request id {rid}" in body["detail"]
    # A client's own X-Request-ID is kept, so it can find its request in the log.
    r = client.post("/broken/v1/edit", headers={"X-Request-ID": "client-id-5e2b"}, **_json(task.source_png, instruction=instruction))
    assert r.status_code == 500 and "request id client-id-5e2b" in r.json()["detail"]

    # The details are in the ingress replica's log, on the line with the request id or the traceback after it.
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs" / "serve"
    expected = "shard-00003" if error == "pipeline_failed" else "AttributeError"
    deadline = time.monotonic() + 20
    while not any(expected in text[text.index(rid):][:5000] for p in logs.glob("replica_broken_*.log")
                  if rid in (text := p.read_text(errors="replace"))):
        assert time.monotonic() < deadline, f"no log entry with request id {rid} and {expected!r}"
        time.sleep(0.5)


# -- the docs pages -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/near"])
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_this_server(client, prefix, page):
    r = client.get(prefix + page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""", r.text)
    assert urls and not re.search(r"https?://", r.text), r.text  # nothing from a CDN: /docs works offline
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(u.startswith(prefix + "/") for u in urls), urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert client.get(scripts[0]).headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
