"""The editrl Serve application: a FastAPI ingress plus one deployment per agent node, composed with `.bind()`.

`build_app(args)` is the application builder named in `configs/serve.yaml` (`serve run configs/serve.yaml`). It
validates `args` (`orchestration.serve.config.ServeArgs`), resolves the pipeline (with the checkpoint applied),
checks the graph, and binds the `EditService` ingress to one `AgentDeployment` per node. `editrl serve` calls
`bind_app`, the same with the file's own `deployments:` entries and `runtime_env` applied, as Serve's controller
applies them under `serve run`.

Routes: `GET /` (the web page), `GET /healthz`, `GET /v1/agents` (the graph, each agent's backend and model label),
`GET /v1/sample?seed=N` (a generated Canvas task), `POST /v1/edit` (multipart or JSON), OpenAPI at `/openapi.json`,
`/docs` (Swagger UI) and `/redoc`, their scripts served from this process (`/docs-assets/`), so they work offline.
`/v1/*` needs the bearer token when one is configured. Every route first checks the Host header (`check_host`: a
web page reaching a loopback server by DNS rebinding names its own host there, and gets 421).

Every client error is a 4xx `{error, detail}` saying what to change; a request past its timeout is a 504 and an
agent deployment that cannot take work a 503, both in the same shape. A failure inside the service is a 500 whose
detail names no exception, path or agent output - only what failed and the request id - while the server log keeps
the traceback under that id (Serve's `X-Request-ID`, also on the response).
"""

import asyncio
import base64
import hmac
import logging
import time
import uuid
from importlib.resources import files
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents.base import EpisodeState
from orchestration.config import ConfigError, PipelineConfig
from orchestration.graph import build_graph
from orchestration.pipeline import EpisodeResult, agent_kwargs
from orchestration.serve.api import (
    ApiError,
    EditJSON,
    EditResponse,
    ErrorBody,
    Sample,
    check_host,
    decode_image,
    decode_is_cheap,
    http_error_code,
    model_label,
    parse_edit_request,
    public_description,
    validation_detail,
)
from orchestration.serve.config import INGRESS, ServeArgs, deployment_settings, parse_args, resolve_pipeline
from orchestration.serve.deployments import InIngressAgent, ServeAgentHandle, agent_deployment, serve_options
from orchestration.serve.runner import AgentUnavailable, AsyncPipeline
from orchestration.understanding import NOT_UNDERSTOOD, edit_understood, reported_score

PAGE = Path(__file__).parent / "static" / "index.html"
# Swagger UI's and ReDoc's scripts, as the fastapi-offline package ships them: FastAPI's own pages load them from
# a CDN, so they are blank on a machine without internet access.
DOCS_ASSETS = files("fastapi_offline") / "static"
DOCS_ASSETS_URL = "/docs-assets"

# Serve's replica logger: its lines go to the replica's log file, tagged with the request id.
logger = logging.getLogger("ray.serve")

api = FastAPI(
    title="editrl",
    version="1",
    description="Instruction-based image editing by a graph of agents (thinker, decomposer, sorter, editor, verifier). "
                "Every error is `{error, detail}`; `/v1/*` needs `Authorization: Bearer <token>` when the server has one.",
    docs_url=None, redoc_url=None, openapi_url=None,  # served by EditService, behind the Host check
)
api.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


def serve_request_id(request: Request) -> str:
    """Serve's id of this request (its proxy sets `X-Request-ID`, or keeps the client's), which Serve also puts on
    the response and in its log lines; a fresh one outside Serve."""
    return request.headers.get("x-request-id", "")[:128] or uuid.uuid4().hex


def internal_error(request: Request, what: str, cause: BaseException | str, error: str = "internal_error") -> ApiError:
    """A 500 for a failure inside the service: `cause` (an exception, with its traceback, or the text of one) goes to
    the server log under the request id; the client learns what failed and the id to quote, not the exception text,
    which can carry paths, model output or settings."""
    rid = serve_request_id(request)
    if isinstance(cause, BaseException):
        logger.error("request %s: %s", rid, what, exc_info=(type(cause), cause, cause.__traceback__))
    else:
        logger.error("request %s: %s: %s", rid, what, cause)
    return ApiError(500, error, f"{what}; the request was valid and the failure is the server's: retry, or report it "
                                f"with request id {rid} (the server log has the details)")


@api.exception_handler(ApiError)
async def _api_error(request: Request, err: ApiError) -> JSONResponse:
    return _error(err.status, err.error, err.detail, err.headers)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    return _error(422, "invalid_request", validation_detail(list(err.errors())))


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
    detail = str(err.detail)
    if err.status_code == 404:
        detail = f"no route {request.url.path}; see /docs for the API"
    elif err.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
    return _error(err.status_code, http_error_code(err.status_code), detail, getattr(err, "headers", None))


@api.exception_handler(Exception)
async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    # A bug outside the routes' own handling: still a 500 in the API's shape, its text in the log only.
    e = internal_error(request, "the server failed on this request", err)
    return _error(e.status, e.error, e.detail, e.headers)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` inlined (OpenAPI's requestBody in openapi_extra cannot use them)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


EDIT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["image", "instruction"], "properties": {
        "image": {"type": "string", "format": "binary", "description": "The image file (PNG, JPEG, ...)."},
        "instruction": {"type": "string", "description": "What to change, in words."},
        "options": {"type": "string", "description": 'Optional JSON object, e.g. {"timeout_s": 10, "max_rounds": 0}.'}}}},
    "application/json": {"schema": _inline_refs(EditJSON.model_json_schema()), "example": {
        # A working request for /docs' "Try it out" and for the schema fuzzer's explicit phase: a 32x32 white PNG.
        "image_base64": "iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAKElEQVR42u3NQQEAAAQEMPTvfErw2wqsk9SnqWcCgUAgEAgEAoHgygLH8QM9BsqtpQAAAABJRU5ErkJggg==",
        "instruction": "make the background blue"}},
}}}
ERRORS = {code: {"model": ErrorBody, "description": text} for code, text in {
    400: "Malformed JSON, base64, multipart or image.", 401: "Missing or wrong bearer token.",
    413: "Body, image bytes or pixel count over the limit.", 415: "Wrong Content-Type or image format.",
    421: "The Host header names a host this server does not answer to (allowed_hosts).",
    422: "A missing or invalid field.", 500: "An agent or the service failed on this request (see the request id).",
    503: "An agent deployment is unavailable; retry.", 504: "The request took longer than its timeout."}.items()}


@serve.deployment
@serve.ingress(api)
class EditService:
    """The HTTP ingress: reads requests, runs the agent graph by awaiting the agents' deployments, answers JSON."""

    def __init__(self, args: dict[str, Any], pipeline: dict[str, Any], token: str | None, agents: dict[str, DeploymentHandle],
                 in_ingress: dict[str, tuple[type, dict[str, Any]]] | None = None):
        self.args = ServeArgs.model_validate(args)
        self.config = PipelineConfig.model_validate(pipeline)
        # The ingress imports no agent code itself; only agents placed here (`placement: ingress`) come with their class.
        self.graph = build_graph(self.config, resolve_classes=False)
        self.agents: dict[str, Any] = {node: ServeAgentHandle(node, handle) for node, handle in agents.items()}
        for node, (agent_cls, kwargs) in (in_ingress or {}).items():
            self.agents[node] = InIngressAgent(node, agent_cls, kwargs)
        self.pipeline = AsyncPipeline(self.graph, self.agents)
        self.token = token
        self.page = PAGE.read_text(encoding="utf-8")

    def _check_host(self, request: Request) -> None:
        server = request.scope.get("server")
        check_host(request.headers.get("host"), server[0] if server else None, self.args.allowed_hosts)

    def _authorize(self, request: Request) -> None:
        self._check_host(request)
        if self.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "this server needs a bearer token; send the header 'Authorization: Bearer <token>'",
                           headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise ApiError(401, "unauthorized", "the bearer token is wrong; send the token the server was started with",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(self, request: Request) -> HTMLResponse:
        self._check_host(request)
        return HTMLResponse(self.page)

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(self, request: Request) -> JSONResponse:
        self._check_host(request)
        return JSONResponse(request.app.openapi())

    @api.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs(self, request: Request) -> HTMLResponse:
        self._check_host(request)
        root = request.scope.get("root_path", "").rstrip("/")
        assets = root + DOCS_ASSETS_URL
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title="editrl - Swagger UI", oauth2_redirect_url=None,
                                   swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{assets}/favicon.png",
                                   # no badge from the public validator service: nothing leaves the machine
                                   swagger_ui_parameters={"validatorUrl": None})

    @api.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    async def redoc(self, request: Request) -> HTMLResponse:
        self._check_host(request)
        root = request.scope.get("root_path", "").rstrip("/")
        assets = root + DOCS_ASSETS_URL
        return get_redoc_html(openapi_url=f"{root}/openapi.json", title="editrl - ReDoc", redoc_js_url=f"{assets}/redoc.standalone.js",
                              redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False)

    @api.get("/healthz", summary="Liveness of the ingress", responses={421: ERRORS[421]})
    async def healthz(self, request: Request) -> dict[str, Any]:
        self._check_host(request)
        return {"status": "ok", "pipeline": self.config.name, "auth": self.token is not None}

    @api.get("/v1/agents", summary="The agent graph: order, edges, reflection, each agent's backend and model",
             responses={k: ERRORS[k] for k in (401, 421, 503)})
    async def agents_info(self, request: Request) -> dict[str, Any]:
        self._authorize(request)
        try:
            described = await asyncio.gather(*(self.agents[n].describe() for n in self.graph.order))
        except Exception as err:  # noqa: BLE001 - a deployment that cannot answer is unavailable, not a client error
            raise ApiError(503, "agent_unavailable", f"an agent deployment did not answer ({type(err).__name__}); retry in a few seconds") from None
        # Models by label, not by path, and no `options`: the config's options may carry keys or endpoints, and what
        # an agent means to publish it says in its own describe().
        checkpoint = self.args.checkpoint
        agents = {}
        for node, live in zip(self.graph.order, described):
            cfg = self.config.agents[node]
            agents[node] = {**public_description(live, checkpoint), "role": self.graph.roles[node],
                            "backend": cfg.cls or cfg.backend, "checkpoint": model_label(cfg.model, checkpoint)}
        g = self.graph
        return {
            "pipeline": self.config.name, "description": self.config.description, "order": list(g.order),
            "edges": [list(e) for e in g.graph.edges], "checkpoint": model_label(checkpoint),
            "reflection": None if g.reflection_source is None else {
                "source": g.reflection_source, "target": g.reflection_target, "max_rounds": g.max_rounds},
            "agents": agents,
        }

    @api.get("/v1/sample", response_model=Sample, summary="A generated Canvas task: its image and instruction",
             responses={k: ERRORS[k] for k in (401, 421, 422)})
    async def sample(self, request: Request, seed: int = Query(default=0, ge=0, le=10**9, description="Which task of the stream.")) -> Sample:
        self._authorize(request)
        from envs.canvas.generator import generate_task

        task = await asyncio.to_thread(generate_task, seed, 0, self.args.sample_split)
        return Sample(task_id=task.task_id, instruction=task.instruction, category=task.category, n_steps=task.n_steps,
                      image_base64=base64.b64encode(task.source_png).decode())

    @api.post("/v1/edit", response_model=EditResponse, summary="Edit an image from an instruction",
              openapi_extra=EDIT_BODY, responses=ERRORS)
    async def edit(self, request: Request) -> EditResponse:
        started = time.perf_counter()
        self._authorize(request)
        limits = self.args.limits
        try:
            # Bounded: a body that never arrives must not hold the request forever. Besides slow clients, that
            # happens when the proxy retries a request on this replica after the replica that first took it died:
            # the body went to the dead one.
            data, instruction, options = await asyncio.wait_for(parse_edit_request(request, limits), self.args.request_timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise ApiError(503, "body_unavailable", f"the request body did not arrive within {self.args.request_timeout_s:g} s "
                                                    "(a stalled upload, or a request retried after a replica failed); retry",
                           headers={"Retry-After": "5"}) from None
        timeout = self.args.request_timeout_s
        if options.timeout_s is not None:
            if options.timeout_s > timeout:
                raise ApiError(422, "invalid_options", f"options.timeout_s={options.timeout_s} is above the server's "
                                                       f"request_timeout_s={timeout}; ask for at most {timeout}")
            timeout = options.timeout_s
        if options.max_rounds is not None and options.max_rounds > self.graph.max_rounds:
            raise ApiError(422, "invalid_options", f"options.max_rounds={options.max_rounds} is above the pipeline's "
                                                   f"reflection bound {self.graph.max_rounds}; ask for at most {self.graph.max_rounds}")
        request_id = uuid.uuid4().hex
        timings: dict[str, float] = {}
        try:
            png = decode_image(data, limits) if decode_is_cheap(data) else await asyncio.to_thread(decode_image, data, limits)
            state = EpisodeState(task_id=f"serve-{request_id}", instruction=instruction, source_png=png)
            remaining = timeout - (time.perf_counter() - started)
            result = await asyncio.wait_for(self.pipeline.run(state, options.max_rounds, timings), max(remaining, 1e-3))
        except ApiError:
            raise
        except (TimeoutError, asyncio.TimeoutError):
            done = ", ".join(timings) or "none"
            raise ApiError(504, "timeout", f"the edit did not finish within {timeout:g} s (agents done: {done}); retry, send a "
                                           "smaller image, or raise options.timeout_s / the server's request_timeout_s") from None
        except AgentUnavailable as err:
            logger.warning("request %s: %s", serve_request_id(request), err)
            raise ApiError(503, "agent_unavailable", f"agent {err.node!r} is unavailable (no replica can take the request "
                                                     "now); retry in a few seconds", headers={"Retry-After": "5"}) from None
        except Exception as err:  # noqa: BLE001 - a bug here is a 500 in the API's shape, never an HTML page
            raise internal_error(request, "the service failed on this request", err) from None
        if not result.ok:  # result.error: the agent's exception as text, for the log only
            raise internal_error(request, f"agent {result.failed_node!r} failed on this request", str(result.error), "pipeline_failed")
        try:
            return self._response(request_id, result, started)
        except Exception as err:  # noqa: BLE001 - e.g. an agent that returned the wrong kind of output
            raise internal_error(request, "the service could not build the answer", err) from None

    def _response(self, request_id: str, result: EpisodeResult, started: float) -> EditResponse:
        final = result.state
        assert final.edit is not None  # resolve_pipeline checked there is an editor, and the episode succeeded
        understood = edit_understood(final)
        return EditResponse(
            id=request_id, pipeline=self.config.name,
            image_base64=base64.b64encode(final.edit.image_png).decode(),
            plan=final.plan.text if final.plan else None,
            components=[c.model_dump() for c in final.decomposition.components] if final.decomposition else None,
            subrequests=list(final.subrequests.items) if final.subrequests else None,
            applied=list(final.edit.applied), skipped=list(final.edit.skipped),
            checklist=[{"question": i.question, "answer": i.answer, "reason": i.reason} for i in final.verdict.items] if final.verdict else [],
            score=reported_score(final),
            passed=(final.verdict.passed and understood) if final.verdict else None,
            understood=understood, message=None if understood else NOT_UNDERSTOOD,
            rounds=final.round + 1,
            timings_ms={k: round(v, 2) for k, v in result.timings_ms.items()},
            total_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def build_app(args: dict[str, Any]) -> Application:
    """The bound application (module docstring). `args`: the application's `args` from a Serve config file. The
    builder `serve run` calls; Serve's controller then applies the file's own `deployments:` entries itself."""
    return bind_app(parse_args(args))


def bind_app(settings: ServeArgs | dict[str, Any], deployments: Mapping[str, Mapping[str, Any]] | None = None,
             runtime_env: Mapping[str, Any] | None = None) -> Application:
    """`build_app`, plus what `serve run` applies from the rest of the file and `editrl serve` applies here:
    `deployments`, Serve's per-deployment settings by deployment name (a graph node placed in its own deployment,
    or the ingress, `EditService`), each applied over the args' settings; `runtime_env`, the application's,
    merged into every deployment's (`orchestration.serve.deployments.serve_options`)."""
    settings = parse_args(settings)
    deployments = dict(deployments or {})
    config = resolve_pipeline(settings)
    graph = build_graph(config)
    placements = {node: deployment_settings(settings, config, node)["placement"] for node in graph.order}
    deployed = [node for node in graph.order if placements[node] == "deployment"] + [INGRESS]
    for name in deployments:
        if placements.get(name) == "ingress":
            raise ConfigError(f"deployments[{name}]: agent {name!r} runs inside the ingress (args.deployments.{name}."
                              f"placement: ingress), so it has no deployment to set; set the ingress ({INGRESS}) "
                              "instead, or use placement 'deployment'")
        if name not in deployed:
            raise ConfigError(f"deployments[{name}]: no deployment {name!r} in this app; its deployments are "
                              f"{', '.join(deployed)} (the graph's nodes, and {INGRESS}, the HTTP ingress)")
    agents: dict[str, Any] = {}
    in_ingress: dict[str, tuple[type, dict[str, Any]]] = {}
    for node in graph.order:
        node_settings = deployment_settings(settings, config, node)
        kwargs = agent_kwargs(config.agents[node], config)
        if node_settings["placement"] == "ingress":
            if node_settings["num_gpus"]:
                raise ConfigError(f"deployments.{node}.placement: 'ingress' runs {node!r} inside the CPU-only ingress, but "
                                  f"the agent asks for num_gpus={node_settings['num_gpus']}; use placement 'deployment'")
            in_ingress[node] = (graph.classes[node], kwargs)
        else:
            agents[node] = agent_deployment(node, graph.classes[node], kwargs, node_settings, deployments.get(node), runtime_env)
    ingress = settings.ingress
    base = {"ray_actor_options": {"num_cpus": ingress.num_cpus}, "max_ongoing_requests": ingress.max_ongoing_requests,
            **ingress.scaling(1), **ingress.health_options()}
    return EditService.options(**serve_options(base, deployments.get(INGRESS), runtime_env)).bind(
        settings.model_dump(mode="json", exclude={"auth_token"}), config.model_dump(mode="json"), settings.token(), agents,
        in_ingress)
