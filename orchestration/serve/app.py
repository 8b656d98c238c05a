"""The editrl Serve application: a FastAPI ingress plus one deployment per agent node, composed with `.bind()`.

`build_app(args)` is the application builder named in `configs/serve.yaml` (`serve run configs/serve.yaml`) and
called by `editrl serve`. It validates `args` (`orchestration.serve.config.ServeArgs`), resolves the pipeline (with
the checkpoint applied), checks the graph, and binds the `EditService` ingress to one `AgentDeployment` per node.

Routes: `GET /` (the web page), `GET /healthz`, `GET /v1/agents` (the graph, each agent's backend and checkpoint),
`GET /v1/sample?seed=N` (a generated Canvas task), `POST /v1/edit` (multipart or JSON), OpenAPI at `/docs`.
`/v1/*` needs the bearer token when one is configured. Every client error is a 4xx `{error, detail}`; a request
past its timeout is a 504 and an agent deployment that cannot take work a 503, both in the same shape.
"""

import asyncio
import base64
import hmac
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents.base import EpisodeState
from orchestration.config import ConfigError, PipelineConfig
from orchestration.graph import build_graph
from orchestration.pipeline import agent_kwargs
from orchestration.serve.api import (
    ApiError,
    EditJSON,
    EditResponse,
    ErrorBody,
    Sample,
    decode_image,
    decode_is_cheap,
    http_error_code,
    parse_edit_request,
    validation_detail,
)
from orchestration.serve.config import ServeArgs, deployment_settings, parse_args, resolve_pipeline
from orchestration.serve.deployments import InIngressAgent, ServeAgentHandle, agent_deployment
from orchestration.serve.runner import AgentUnavailable, AsyncPipeline
from orchestration.understanding import NOT_UNDERSTOOD, edit_understood, reported_score

PAGE = Path(__file__).parent / "static" / "index.html"

api = FastAPI(
    title="editrl",
    version="1",
    description="Instruction-based image editing by a graph of agents (thinker, decomposer, sorter, editor, verifier). "
                "Every error is `{error, detail}`; `/v1/*` needs `Authorization: Bearer <token>` when the server has one.",
)


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


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
    422: "A missing or invalid field.", 500: "An agent failed on this request.",
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

    def _authorize(self, request: Request) -> None:
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
    async def index(self) -> HTMLResponse:
        return HTMLResponse(self.page)

    @api.get("/healthz", summary="Liveness of the ingress")
    async def healthz(self) -> dict[str, Any]:
        return {"status": "ok", "pipeline": self.config.name, "auth": self.token is not None}

    @api.get("/v1/agents", summary="The agent graph: order, edges, reflection, each agent's backend and checkpoint",
             responses={k: ERRORS[k] for k in (401, 503)})
    async def agents_info(self, request: Request) -> dict[str, Any]:
        self._authorize(request)
        try:
            described = await asyncio.gather(*(self.agents[n].describe() for n in self.graph.order))
        except Exception as err:  # noqa: BLE001 - a deployment that cannot answer is unavailable, not a client error
            raise ApiError(503, "agent_unavailable", f"an agent deployment did not answer ({type(err).__name__}); retry in a few seconds") from None
        agents = {}
        for node, live in zip(self.graph.order, described):
            cfg = self.config.agents[node]
            agents[node] = {**live, "role": self.graph.roles[node], "backend": cfg.cls or cfg.backend,
                            "checkpoint": cfg.model, "options": cfg.options}
        g = self.graph
        return {
            "pipeline": self.config.name, "description": self.config.description, "order": list(g.order),
            "edges": [list(e) for e in g.graph.edges], "checkpoint": self.args.checkpoint,
            "reflection": None if g.reflection_source is None else {
                "source": g.reflection_source, "target": g.reflection_target, "max_rounds": g.max_rounds},
            "agents": agents,
        }

    @api.get("/v1/sample", response_model=Sample, summary="A generated Canvas task: its image and instruction",
             responses={k: ERRORS[k] for k in (401, 422)})
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
            raise ApiError(503, "agent_unavailable", f"{err}; retry in a few seconds", headers={"Retry-After": "5"}) from None
        except Exception as err:  # noqa: BLE001 - a bug here is a 500 in the API's shape, never an HTML page
            raise ApiError(500, "internal_error", f"{type(err).__name__}: {err}") from None
        if not result.ok:
            raise ApiError(500, "pipeline_failed", f"{result.error}; the request was valid, the agent failed on it")
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
            checklist=[{"question": i.question, "answer": i.answer} for i in final.verdict.items] if final.verdict else [],
            score=reported_score(final),
            passed=(final.verdict.passed and understood) if final.verdict else None,
            understood=understood, message=None if understood else NOT_UNDERSTOOD,
            rounds=final.round + 1,
            timings_ms={k: round(v, 2) for k, v in result.timings_ms.items()},
            total_ms=round((time.perf_counter() - started) * 1000, 2),
        )


def build_app(args: dict[str, Any]) -> Application:
    """The bound application (module docstring). `args`: the application's `args` from a Serve config file."""
    settings = parse_args(args)
    config = resolve_pipeline(settings)
    graph = build_graph(config)
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
            agents[node] = agent_deployment(node, graph.classes[node], kwargs, node_settings)
    ingress = settings.ingress
    return EditService.options(
        num_replicas=ingress.num_replicas, ray_actor_options={"num_cpus": ingress.num_cpus},
        max_ongoing_requests=ingress.max_ongoing_requests, **ingress.health_options(),
    ).bind(settings.model_dump(mode="json", exclude={"auth_token"}), config.model_dump(mode="json"), settings.token(), agents,
           in_ingress)
