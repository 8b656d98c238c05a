"""The Serve endpoint fuzzed from its own OpenAPI schema with schemathesis, over loopback HTTP: no 5xx, no crash.

The real application (FastAPI ingress + one deployment per agent of canvas_rule) runs on Ray Serve on 127.0.0.1
behind a bearer token. For every operation in `/openapi.json`, schemathesis generates requests that fit the schema
(positive) and requests that break it (negative); each must be answered with a documented status code, the
declared content type and body schema, and never a 5xx. Examples are bounded (`EXAMPLES` per operation and mode,
derandomized) to keep the test near a minute on two loaded cores. A final request checks the service still edits.
Set EDITRL_FAULT_REPORT_FUZZ=path.json to keep the counts (docs/benchmarks/reliability.md quotes them).
"""

import base64
import json
import os
from collections import Counter

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ray import serve

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra: pip install -e .[dev]")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from envs.canvas.generator import generate_task  # noqa: E402
from orchestration.serve.app import build_app  # noqa: E402

TOKEN = "fuzz-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 150
OPERATIONS = [("GET", "/healthz"), ("GET", "/v1/agents"), ("GET", "/v1/sample"), ("POST", "/v1/edit")]
# Negative data exists only where a request has parameters or a body to break.
RUNS = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + \
       [(m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if p in ("/v1/sample", "/v1/edit")]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STATUSES: Counter = Counter()  # (operation, mode, status) -> count, over the module


@pytest.fixture(scope="module")
def server(serve_http):
    # Small limits so that generated bodies reach the limit checks too.
    app = build_app({"pipeline": "canvas_rule", "auth_token": TOKEN, "request_timeout_s": 20,
                     "limits": {"max_body_bytes": 200_000, "max_image_bytes": 100_000, "max_pixels": 250_000}})
    serve.run(app, name="fuzz", route_prefix="/")
    yield f"http://127.0.0.1:{serve_http['port']}"


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(server + "/openapi.json")


def test_schema_lists_every_operation(schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == set(OPERATIONS)  # a new route must be added to OPERATIONS, so it is fuzzed too


@pytest.mark.parametrize("method, path, mode", RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS])
def test_fuzzed_requests_never_get_a_5xx(server, schema, method, path, mode):
    operation = schema.find_operation_by_path(method, path)
    assert operation is not None

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        response = case.call(base_url=server, headers=AUTH, timeout=30)
        STATUSES[(f"{method} {path}", mode.value, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:  # every error in the API's one shape
            assert set(response.json()) == {"error", "detail"}, response.text

    fuzz()


def test_the_documented_example_is_a_working_edit(server, schema):
    operation = schema.find_operation_by_path("POST", "/v1/edit")
    examples = schema.get_strategies_from_examples(operation)
    assert examples  # the example in the OpenAPI document (app.EDIT_BODY)

    @settings(max_examples=len(examples), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(examples))
    def call(case):
        response = case.call(base_url=server, headers=AUTH, timeout=30)
        STATUSES[("POST /v1/edit", "example", response.status_code)] += 1
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=CHECKS)

    call()


def test_service_still_edits_after_the_fuzzing(server):
    task = generate_task(5, seed=0, split="test")
    r = httpx.post(server + "/v1/edit", headers=AUTH, timeout=30,
                   json={"image_base64": base64.b64encode(task.source_png).decode(), "instruction": task.instruction})
    assert r.status_code == 200, r.text
    by_status = Counter()
    for (_, _, status), n in STATUSES.items():
        by_status[status] += n
    report = {"examples": sum(by_status.values()), "by_status": dict(sorted(by_status.items())),
              "by_run": {f"{op} {mode} {s}": n for (op, mode, s), n in sorted(STATUSES.items())},
              "server_errors": sum(n for s, n in by_status.items() if s >= 500)}
    print(json.dumps(report))
    if os.environ.get("EDITRL_FAULT_REPORT_FUZZ"):
        with open(os.environ["EDITRL_FAULT_REPORT_FUZZ"], "w") as f:
            json.dump(report, f)
    assert report["server_errors"] == 0
