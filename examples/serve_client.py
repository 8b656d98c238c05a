"""A Serve client: start the editing service locally, send one edit over HTTP, print what the agents did, stop.

Shows the service from both sides. Server: `build_app(args)` (the builder `serve run configs/serve.yaml` and
`editrl serve` use; `args` are the `applications[].args` of a Serve config) deployed with `serve.run` on a local
Ray instance. Client: plain HTTP with `requests` (installed with Ray) - `GET /healthz`, `GET /v1/sample` (a
generated Canvas task), `POST /v1/edit` with a JSON body - and the response's plan, components, sub-requests and
checklist answers. The rule pipeline runs with every agent inside the ingress (`placement: ingress`), the cheapest
set-up; `--per-agent` gives each agent its own deployment, the default of `configs/serve.yaml`. About 20 s on 2 cores.

    python examples/serve_client.py [--seed 5] [--per-agent] [--port 0] [--out edited.png]

Against a running server (`editrl serve`), only the client half is needed: the `requests` calls in `edit()`.
"""

from __future__ import annotations

import argparse
import base64
import socket
from pathlib import Path

import ray
import requests
from ray import serve

from orchestration.serve.app import build_app

NODES = ("thinker", "decomposer", "sorter", "editor", "verifier")


def edit(url: str, seed: int, out: Path | None) -> None:
    """The client: everything a program needs to use the service."""
    print(f"healthz     : {requests.get(f'{url}/healthz', timeout=10).json()}")
    sample = requests.get(f"{url}/v1/sample", params={"seed": seed}, timeout=30).json()
    print(f"instruction : {sample['instruction']}")

    # JSON body: the image as base64, the instruction; multipart (`files={"image": ...}`) works as well.
    response = requests.post(f"{url}/v1/edit", timeout=60,
                             json={"image_base64": sample["image_base64"], "instruction": sample["instruction"]})
    body = response.json()
    if response.status_code != 200:  # every error is JSON: {error, detail}
        raise SystemExit(f"edit failed with {response.status_code}: {body['error']}: {body['detail']}")
    print(f"plan        : {body['plan']}")
    for c in body["components"] or []:
        print(f"component   : {c['action']} | {', '.join(c['subject'])} | {', '.join(c['target']) or '-'}")
    for i, item in enumerate(body["subrequests"] or []):
        print(f"subrequest {i}: {item}")
    for item in body["checklist"]:  # derived from the request: a served edit has no reference checklist
        print(f"check       : [{item['answer']:>7}] {item['question']}")
    print(f"score       : {body['score']:.3f}   passed: {body['passed']}   total_ms: {body['total_ms']:.1f}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(body["image_base64"]))
        print(f"wrote {out}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5, help="which generated Canvas task to edit (GET /v1/sample?seed=N)")
    parser.add_argument("--per-agent", action="store_true", help="one Serve deployment per agent instead of all in the ingress")
    parser.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the edited PNG (default: not written)")
    args = parser.parse_args(argv)

    # The app's args, as under `applications[0].args` in configs/serve.yaml (orchestration/serve/config.py).
    app_args = {
        "pipeline": "canvas_rule",
        "auth_token_env": None,  # no bearer token, whatever the environment says; the server binds 127.0.0.1 only
        "deployments": {} if args.per_agent else {node: {"placement": "ingress"} for node in NODES},
    }
    port = args.port or free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(app_args), name="editrl", route_prefix="/")  # returns once every replica is up
        edit(f"http://127.0.0.1:{port}", args.seed, args.out)
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
