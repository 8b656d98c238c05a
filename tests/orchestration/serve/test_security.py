"""Security promises of the Serve endpoint, checked on a real Serve instance started from configs/serve.yaml:

- it binds loopback unless configured otherwise: reachable on 127.0.0.1, refused on the machine's other address;
- a request on loopback must name the machine in its Host header (DNS rebinding names another site there): the rules
  here, over HTTP in test_api.py;
- the bearer token (read from EDITRL_SERVE_TOKEN, as documented) never appears in a response, in an error, nor
  anywhere in Ray's session folder (every log of the driver, controller, proxy and replicas) after authorized,
  unauthorized and failing requests.

Size, pixel and decompression-bomb limits and the 401s are covered request by request in test_api.py.
"""

import base64
import socket
from pathlib import Path

import httpx
import pytest
import ray
from ray import serve

from envs.canvas.generator import generate_task
from orchestration.serve.api import ApiError, check_host, host_name
from orchestration.serve.app import build_app
from orchestration.serve.config import read_serve_file

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "s3cr3t-Tok3n-6b1d9e"  # distinctive, so a match in a log can only be a leak
WRONG = "wr0ng-Tok3n-44c2a7"


def _other_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


SPEC = read_serve_file(ROOT / "configs" / "serve.yaml", ["request_timeout_s=20"])
SERVE_HTTP_OPTIONS = SPEC.http_options  # the file's host: loopback (the serve_http fixture adds a free port)
SERVE_ENV = {"EDITRL_SERVE_TOKEN": TOKEN}  # read by build_app, as `editrl serve` reads it


@pytest.fixture(scope="module")
def server(serve_http):
    serve.run(build_app(SPEC.args.model_dump()), name=SPEC.name, route_prefix=SPEC.route_prefix)
    yield serve_http


def test_binds_loopback_by_default(server, tmp_path):
    # A Serve config without http_options binds loopback too.
    bare = tmp_path / "serve.yaml"
    bare.write_text("applications:\n  - name: editrl\n    import_path: orchestration.serve.app:build_app\n")
    assert read_serve_file(bare).http_options["host"] == "127.0.0.1"
    assert server["host"] == "127.0.0.1"
    port = server["port"]
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    other = _other_address()
    if other is None:
        pytest.skip("this machine has no address besides loopback to try")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{other}:{port}/healthz", timeout=5)


def test_token_never_appears_in_responses_errors_or_logs(server):
    url = f"http://127.0.0.1:{server['port']}"
    task = generate_task(2, seed=0, split="test")
    good = {"image_base64": base64.b64encode(task.source_png).decode(), "instruction": task.instruction}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    texts = []
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/v1/edit", json=good, headers=auth)
        assert r.status_code == 200
        texts.append(r.text)
        for headers in ({}, {"Authorization": f"Bearer {WRONG}"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": f"Bearer {TOKEN}x"}):
            r = c.post("/v1/edit", json=good, headers=headers)
            assert r.status_code == 401
            texts.append(r.text + str(r.headers))
        for body in ({"image_base64": "!!", "instruction": TOKEN}, {"image_base64": good["image_base64"], "token": TOKEN}):
            r = c.post("/v1/edit", json=body, headers=auth)  # client errors that could echo what was sent
            assert 400 <= r.status_code < 500
            texts.append(r.text)
        for path in ("/v1/agents", "/healthz", "/openapi.json", "/"):
            texts.append(c.get(path, headers=auth).text)
    assert not [t for t in texts if TOKEN in t or WRONG in t]

    session = Path(ray._private.worker._global_node.get_session_dir_path())
    logs = [p for p in session.rglob("*") if p.is_file() and not p.is_socket()]
    assert any(b"/v1/edit" in p.read_bytes() for p in logs)  # the requests were logged: the search looks in the right place
    leaks = [str(p) for p in logs if TOKEN.encode() in p.read_bytes()]
    assert not leaks, leaks


@pytest.mark.parametrize("header, local, allowed, ok", [
    ("localhost:8000", "127.0.0.1", [], True),
    ("127.0.0.1:8000", "127.0.0.1", [], True),
    ("[::1]:8000", "::1", [], True),
    ("192.168.1.20:8000", "127.0.0.1", [], True),  # an IP literal is never a rebinding: no DNS name to re-point
    ("evil.example:8000", "127.0.0.1", [], False),
    ("evil.example", "::1", [], False),
    ("localhost.evil.example", "127.0.0.1", [], False),
    ("evil.example", None, [], False),  # the local address unknown: checked as on loopback
    ("editrl.lan:8443", "127.0.0.1", ["editrl.lan"], True),
    ("evil.example", "127.0.0.1", ["*"], True),
    ("gpu-box.lan:8000", "192.168.1.20", [], True),  # bound beyond loopback: reached by names this process cannot know
    ("evil.example:8000", "192.168.1.20", ["gpu-box.lan"], False),  # ... unless they are listed
    ("gpu-box.lan:8000", "192.168.1.20", ["gpu-box.lan"], True),
    ("", "127.0.0.1", [], False),
    ("localhost:http", "127.0.0.1", [], False),
])
def test_host_check_rules(header, local, allowed, ok):
    if ok:
        check_host(header, local, allowed)
        return
    with pytest.raises(ApiError) as caught:
        check_host(header, local, allowed)
    err = caught.value
    if host_name(header) is None:  # no name at all: a malformed request
        assert (err.status, err.error) == (400, "bad_host") and "not a host name" in err.detail
    else:
        assert (err.status, err.error) == (421, "host_not_allowed") and f"allowed_hosts: [{host_name(header)}]" in err.detail


def test_host_name_parsing():
    assert [host_name(h) for h in ["LocalHost:8000", "[::1]:8000", "127.0.0.1", "example.org.", "a:b", "[::1", "[::1]x", ""]] == \
        ["localhost", "::1", "127.0.0.1", "example.org", None, None, None, None]
