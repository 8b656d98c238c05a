"""`editrl serve --config configs/serve.yaml [--host H] [--port P] [--set KEY=VALUE ...]`: the editing service.

Reads the same Serve config file that `serve run configs/serve.yaml` deploys, starts Ray (or joins the cluster in
RAY_ADDRESS) and Serve with the file's `http_options`, `proxy_location` and the other Serve-wide keys, deploys the
app built from the file's `args` with the application's own `deployments:`, `runtime_env` and `logging_config`
applied as `serve run` applies them, and blocks until Ctrl-C, then shuts Serve down. A key of the file it cannot
honour is an error naming it (`orchestration.serve.config.read_serve_file`), before Ray starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the editing pipeline over HTTP (Ray Serve)")
    p.add_argument("--config", default="configs/serve.yaml", help="Serve config YAML (default: configs/serve.yaml)")
    p.add_argument("--host", default=None, help="bind address (default: the file's http_options.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: the file's http_options.port, 8000)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an app arg, e.g. --set pipeline=editor_only --set limits.max_pixels=1000000 (repeatable)")
    p.add_argument("--pipeline-set", dest="pipeline_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the pipeline config, as `editrl edit --set` does, e.g. editor.options.mode=multi_turn")
    p.add_argument("--app", default=None, help="application name, when the file holds several editrl apps")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs for a Ray instance started here (default: all)")
    p.set_defaults(handler=serve_command)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_command(args: argparse.Namespace) -> int:
    from orchestration.cli import CLIError
    from orchestration.serve.config import read_serve_file

    spec = read_serve_file(args.config, args.overrides, args.app)
    if args.pipeline_overrides:
        spec.args.overrides = list(spec.args.overrides) + list(args.pipeline_overrides)
    http = dict(spec.http_options)
    if args.host is not None:
        http["host"] = args.host
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise CLIError(f"--port {args.port} is not a TCP port; use 1-65535")
        http["port"] = args.port

    import ray
    from ray import serve

    from orchestration.serve import app as serve_app
    from orchestration.serve.proxy import CALLBACK, CALLBACK_ENV

    # Validates the pipeline and graph before anything starts. `serve run` builds the app in a task with the
    # application's runtime_env, so its env_vars (the token's, for one) are in place here too.
    with spec.build_environment():
        app = serve_app.bind_app(spec.args, spec.deployments, spec.runtime_env)
        token = spec.args.token()
    # The proxy answers a failed ingress replica in the API's JSON shape (orchestration/serve/proxy.py); the proxy
    # reads this where Ray starts, so it only takes effect on a cluster started here.
    os.environ.setdefault(CALLBACK_ENV, CALLBACK)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` and container stops shut down as cleanly as Ctrl-C
    try:
        serve.start(http_options=http, **spec.start_options)
        serve.run(app, name=spec.name, route_prefix=spec.route_prefix, **spec.run_options)
        url = f"http://{http['host']}:{http['port']}{spec.route_prefix.rstrip('/')}"
        auth = "bearer token required" if token else "no auth"
        print(f"editrl serve: {spec.args.pipeline} at {url}/ (API {url}/docs, {auth}); Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            print("editrl serve: shutting down", file=sys.stderr)
    finally:
        serve.shutdown()
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
    return 0
