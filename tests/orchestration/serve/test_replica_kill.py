"""A Serve replica killed under load: every client gets a result or a 503 `{error, detail}`, none hangs, and Serve
brings the replica back by itself.

The canvas_rule pipeline runs with two verifier replicas (the busiest agent) and two ingress replicas while eight
clients send edits in a loop; one replica - an agent's, then the ingress's - is killed with
`ray.kill(..., no_restart=True)`, as an OOM kill or a lost node would. The Serve controller notices on its next
health check and starts a replacement; the app sets `health_check_period_s: 2` on both (Serve's default is 10 s,
which was most of the 10-17 s a replacement took before the setting existed). Requests in flight on a dead agent replica are
answered 503 by the ingress; those in flight on a dead ingress replica by the proxy, whose plain-text 500 the
proxy middleware (orchestration/serve/proxy.py, installed as `editrl serve` installs it) turns into a 503 JSON.
Set EDITRL_FAULT_REPORT=path.jsonl to keep the counts (docs/benchmarks/reliability.md quotes them).
"""

import asyncio
import base64
import json
import os
import time

import httpx
import pytest
import ray
from ray import serve

from envs.canvas.generator import generate_tasks
from orchestration.serve.app import build_app
from orchestration.serve.proxy import CALLBACK, CALLBACK_ENV

APP = "killtest"
CLIENTS = 8
CLIENT_TIMEOUT_S = 30.0  # a hang is a request that gets no answer within this; request_timeout_s is 10
RECOVERY_DEADLINE_S = 60.0  # health check period (2 s) + replica start on two loaded cores, with room


SERVE_ENV = {CALLBACK_ENV: CALLBACK}  # read by the proxy the serve_http fixture starts, as under `editrl serve`


@pytest.fixture(scope="module")
def server(serve_http):
    app = build_app({"pipeline": "canvas_rule", "auth_token_env": None, "request_timeout_s": 10,
                     "ingress": {"num_replicas": 2, "health_check_period_s": 2},
                     "deployments": {"verifier": {"num_replicas": 2, "health_check_period_s": 2}}})
    serve.run(app, name=APP, route_prefix="/")
    yield f"http://127.0.0.1:{serve_http['port']}"


def _replicas(node: str) -> set[str]:
    """Names of the node's live replica actors (Serve names them SERVE_REPLICA::<app>#<deployment>#<id>)."""
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA::") and f"#{node}#" in a["name"]}


def _running(node: str) -> int:
    deployment = serve.status().applications[APP].deployments[node]
    return sum(n for state, n in deployment.replica_states.items() if str(state).endswith("RUNNING"))


# The 503s each kind of death may give: an agent's, answered by the ingress; the ingress's, answered by the proxy
# middleware, or by the surviving ingress replica when the proxy retried a request there without its body.
@pytest.mark.parametrize("node, errors", [("verifier", {"agent_unavailable"}),
                                          ("EditService", {"service_unavailable", "body_unavailable"})],
                         ids=["agent replica", "ingress replica"])
def test_killed_replica_gives_results_or_503_never_a_hang_and_recovers(server, node, errors):
    tasks = list(generate_tasks(16, seed=21, split="test"))
    bodies = [{"image_base64": base64.b64encode(t.source_png).decode(), "instruction": t.instruction} for t in tasks]
    outcomes: dict[str, int] = {}
    bad: list[str] = []

    def record(kind: str, note: str | None = None) -> None:
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if note is not None:
            bad.append(note)

    async def client(c: httpx.AsyncClient, i: int, stop: asyncio.Event) -> None:
        k = i
        while not stop.is_set():
            try:
                r = await c.post("/v1/edit", json=bodies[k % len(bodies)])
            except httpx.TimeoutException:
                record("hang", f"client {i}: no answer in {CLIENT_TIMEOUT_S} s")
                continue
            except httpx.HTTPError as err:  # the connection itself failed: the proxy is an HTTP server, it must answer
                record("connection_error", f"client {i}: {type(err).__name__}: {err}")
                continue
            k += CLIENTS
            if r.status_code == 200:
                record("result")
            elif r.status_code == 503 and r.headers.get("content-type", "").startswith("application/json") \
                    and r.json().get("error") in errors and r.json().get("detail"):
                record(f"503 {r.json()['error']}")
            else:
                record(f"http_{r.status_code}", f"client {i}: {r.status_code} {r.text[:300]}")

    async def main() -> tuple[str, set[str], float]:
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=server, timeout=CLIENT_TIMEOUT_S) as c:
            workers = [asyncio.create_task(client(c, i, stop)) for i in range(CLIENTS)]
            await asyncio.sleep(3.0)  # under load before the fault
            before = _replicas(node)
            assert len(before) == 2, before
            victim = sorted(before)[0]
            ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
            killed_at = time.monotonic()
            # Recovered: a replacement replica (a new name) is running next to the survivor, under the same load.
            while time.monotonic() - killed_at < RECOVERY_DEADLINE_S:
                now = _replicas(node)
                if victim not in now and len(now) == 2 and _running(node) == 2:
                    break
                await asyncio.sleep(0.5)
            recovered_s = time.monotonic() - killed_at
            await asyncio.sleep(2.0)  # and serves under load once recovered
            stop.set()
            await asyncio.gather(*workers)
        return victim, _replicas(node), recovered_s

    victim, after, recovered_s = asyncio.run(main())
    sent = sum(outcomes.values())
    report = {"fault": f"ray.kill of one of 2 {node} replicas under {CLIENTS} concurrent clients", "requests": sent,
              **outcomes, "recovered_s": round(recovered_s, 1)}
    print(json.dumps(report))
    if os.environ.get("EDITRL_FAULT_REPORT"):
        with open(os.environ["EDITRL_FAULT_REPORT"], "a") as f:
            f.write(json.dumps(report) + "\n")

    assert not bad, bad[:5]  # only results and 503 JSON; no hang, no other status, no dropped connection
    assert outcomes.get("result", 0) > 0
    assert victim not in after and len(after) == 2 and recovered_s < RECOVERY_DEADLINE_S, (after, recovered_s)
    # Recovered by itself: one request after another, all served.
    with httpx.Client(base_url=server, timeout=CLIENT_TIMEOUT_S) as c:
        assert [c.post("/v1/edit", json=b).status_code for b in bodies[:8]] == [200] * 8
