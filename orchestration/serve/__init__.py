"""Ray Serve for editrl: the same agent graph as training, behind an HTTP API and a web page.

- `config.py`: the application's `args` in a Serve config file (`configs/serve.yaml`), validated by pydantic, and
  the file's own Serve keys, checked by Serve's models and honoured or refused by name (`read_serve_file`).
- `runner.py`: `AsyncPipeline`, `Pipeline.run` awaiting agents (the ingress drives many episodes on one loop).
- `deployments.py`: one `AgentDeployment` per graph node (`@serve.batch` for LM agents) and the handle that calls it.
- `api.py`: API v1 models; request parsing and limits, every client error a 4xx `{error, detail}`.
- `app.py`: the FastAPI ingress, `build_app(args)`, the builder `serve run` uses, and `bind_app`, the same with
  the rest of the Serve config file applied (`editrl serve`).
- `proxy.py`: middleware for Serve's HTTP proxy: a failed ingress replica answers 503 `{error, detail}`, not text.
- `static/index.html`: the web page at `/`.

Ray Serve is imported on load by `app.py` and `deployments.py` only (`config.py` imports Serve's models inside the
functions that check with them), so `orchestration.serve.config` loads without it.
"""
