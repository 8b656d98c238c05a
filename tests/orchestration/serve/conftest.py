"""The Ray + Serve instance a served-app test module runs against.

`serve_http` (module scope) starts Ray (2 CPUs) and Serve's HTTP proxy on 127.0.0.1 at a free port and yields the
proxy's `http_options`; the module's own fixture then deploys its app with `serve.run`. A module may set
`SERVE_ENV` (environment variables that Ray's processes must see, set before Ray starts and restored afterwards)
and `SERVE_HTTP_OPTIONS` (the proxy's options apart from the port).
"""

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from ray import serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def serve_http(request) -> Iterator[dict[str, Any]]:
    env: dict[str, str] = getattr(request.module, "SERVE_ENV", {})
    http = {"host": "127.0.0.1", **getattr(request.module, "SERVE_HTTP_OPTIONS", {}), "port": _free_port()}
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options=http)
        yield http
    finally:
        serve.shutdown()
        ray.shutdown()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
