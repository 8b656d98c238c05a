"""The serve configuration: the `args` of the editrl application in a Ray Serve config file, validated by pydantic.

`configs/serve.yaml` is an ordinary Serve config (`serve run configs/serve.yaml` deploys it); the application's
`args` are validated here (`ServeArgs`: unknown keys are rejected with their path). `editrl serve --config FILE`
reads the same file with `read_serve_file`. `resolve_pipeline` turns the args into the `PipelineConfig` that is
served: the named pipeline, its `--set`-style overrides, the checkpoint applied to the language-model agents, and
the per-deployment settings checked against the graph's nodes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.registry import backends_with
from orchestration.config import ConfigError, PipelineConfig, apply_overrides, check_model_paths, load_config, validation_messages

#: Where the app is found in a Serve config file.
IMPORT_PATH = "orchestration.serve.app:build_app"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Limits(_Strict):
    """What one request may send. Each violation is a 4xx `{error, detail}` naming the limit."""

    max_body_bytes: int = Field(default=8 * 2**20, ge=1024, description=(
        "Largest HTTP request body (multipart or JSON), checked on Content-Length and on the bytes actually read, "
        "before anything is decoded (413). 8 MiB holds a base64-encoded image at max_image_bytes."))
    max_image_bytes: int = Field(default=4 * 2**20, ge=64, description=(
        "Largest image file, after base64 decoding (413). 4 MiB is a large photo; a Canvas image is ~2 KB."))
    max_pixels: int = Field(default=4_000_000, ge=64, description=(
        "Most pixels (width x height), read from the header before decoding, so a decompression bomb costs "
        "nothing (413). 4 MP: agents perceive every pixel, and a Canvas image has 16 K."))
    min_side: int = Field(default=8, ge=1, description="Smallest width or height accepted (422): perception needs some pixels.")
    formats: list[str] = Field(default=["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"], min_length=1, description=(
        "Image formats accepted, as Pillow names them (415 otherwise). Every format is converted to RGB; an "
        "animation gives its first frame."))
    max_instruction_chars: int = Field(default=2000, ge=1, description=(
        "Longest instruction in characters (422); the same bound as `editrl edit`. Canvas instructions are < 400."))

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        from PIL import Image

        Image.init()
        known = set(Image.OPEN)
        names = [v.upper() for v in value]
        unknown = [v for v in names if v not in known]
        if unknown:
            raise ValueError(f"unknown image format(s) {unknown}; use Pillow names such as PNG, JPEG, WEBP, BMP, GIF, TIFF")
        return names

    @model_validator(mode="after")
    def _body_holds_image(self) -> "Limits":
        need = -(-self.max_image_bytes // 3) * 4 + 1024  # the image base64-encoded, plus room for the JSON around it
        if self.max_body_bytes < need:
            raise ValueError(f"max_body_bytes={self.max_body_bytes} cannot carry an image of max_image_bytes="
                             f"{self.max_image_bytes} as base64; raise max_body_bytes to at least {need} or lower max_image_bytes")
        return self


class _HealthChecks(_Strict):
    """Serve's health checks of a deployment's replicas."""

    health_check_period_s: float | None = Field(default=None, gt=0, description=(
        "Seconds between Serve's health checks of a replica (null: Serve's default, 10). A replica that died is "
        "noticed at the next check and replaced, so this bounds how long requests to it answer 503."))
    health_check_timeout_s: float | None = Field(default=None, gt=0, description=(
        "Seconds a health check may take before it counts as failed (null: Serve's default, 30). Keep it above the "
        "agent's longest call on a loaded machine: a replica's checks wait behind it."))

    def health_options(self) -> dict[str, float]:
        """The ones set, as `Deployment.options` keywords (unset: Serve's defaults)."""
        return {k: v for k in ("health_check_period_s", "health_check_timeout_s") if (v := getattr(self, k)) is not None}


class DeploymentSettings(_HealthChecks):
    """Serve settings of one agent's deployment. Unset fields take the pipeline config's value for that agent."""

    num_replicas: int | None = Field(default=None, ge=1, le=64, description="Replicas (default: the agent's `replicas`).")
    num_cpus: float | None = Field(default=None, ge=0, description=(
        "CPUs reserved per replica (default: the agent's `num_cpus`, 0, so a whole pipeline fits on 2 cores)."))
    num_gpus: float | None = Field(default=None, ge=0, description="GPUs per replica (default: the agent's `num_gpus`).")
    max_ongoing_requests: int = Field(default=32, ge=1, description=(
        "Requests one replica holds at once (Serve's default is 5). Must be >= max_batch_size for batches to fill; "
        "the agent itself runs one call or batch at a time, the rest wait in the replica."))
    batching: bool | None = Field(default=None, description=(
        "Batch concurrent requests into one `act_batch` call with `@serve.batch`. Default: on for LM backends "
        "(transformers, vllm), where one padded generation serves many requests; off for the others."))
    max_batch_size: int | None = Field(default=None, ge=1, description="Most requests per batch (default: the agent's `max_batch_size`).")
    batch_wait_timeout_s: float | None = Field(default=None, ge=0, description=(
        "How long a batch waits to fill (default: the agent's `batch_wait_ms` / 1000)."))
    placement: Literal["deployment", "ingress"] = Field(default="deployment", description=(
        "deployment: the agent gets its own Serve deployment (replicas, resources, batching, one Ray call per step). "
        "ingress: the agent object lives inside each ingress replica and runs on a worker thread there - no Ray call "
        "per step, which is most of the serving overhead for light agents (rule, canvas; measured in docs/benchmarks/performance.md). It "
        "then scales with the ingress's replicas, so num_replicas, num_gpus, batching and the health checks cannot be "
        "set with it."))

    @model_validator(mode="after")
    def _ingress_has_no_deployment_settings(self) -> "DeploymentSettings":
        if self.placement == "ingress":
            clash = [name for name in ("num_replicas", "num_gpus", "batching", "health_check_period_s", "health_check_timeout_s")
                     if getattr(self, name) is not None]
            if clash:
                raise ValueError(f"placement 'ingress' runs the agent inside the ingress replicas, so {', '.join(clash)} "
                                 "cannot be set; drop them or use placement 'deployment'")
        return self


class IngressSettings(_HealthChecks):
    """Serve settings of the HTTP ingress, which decodes requests and runs the graph by awaiting agent handles."""

    num_replicas: int = Field(default=1, ge=1, le=64, description="Ingress replicas; one async replica drives many episodes at once.")
    num_cpus: float = Field(default=0.0, ge=0, description="CPUs reserved per ingress replica; 0 so it fits next to the agents.")
    max_ongoing_requests: int = Field(default=64, ge=1, description=(
        "Requests one ingress replica works on at once; more wait in the proxy. Above the load benchmark's 32."))


class ServeArgs(_Strict):
    """The `args` of the editrl application in a Serve config file (`applications[].args`)."""

    pipeline: str = Field(default="canvas_rule", description="Pipeline config: a packaged name (canvas_rule, ...) or a YAML path.")
    overrides: list[str] = Field(default_factory=list, description=(
        "`dotted.key=value` overrides of the pipeline config, as `editrl edit --set` takes them."))
    checkpoint: str | None = Field(default=None, description=(
        "Trained weights for the language-model agents (backend transformers/vllm/vlm): a training run folder "
        "(its newest checkpoint: `checkpoints/latest`), one checkpoint `iter_N/` (its `policies/<node>/`), a folder "
        "with one model folder per agent (`<checkpoint>/<node>`, as `editrl sft` writes them), or a single model "
        "folder when the pipeline has exactly one LM agent. null: the pipeline config's own `model` paths, or "
        "rule-based agents."))
    limits: Limits = Field(default_factory=Limits, description="Request limits.")
    auth_token: str | None = Field(default=None, description=(
        "Bearer token every /v1 request must carry (401 without it). Prefer auth_token_env: a token in a config "
        "file ends up in version control."))
    auth_token_env: str | None = Field(default="EDITRL_SERVE_TOKEN", description=(
        "Environment variable holding the bearer token; used when auth_token is null. It is read where the app is "
        "built: the `editrl serve` process, or for `serve run` / `serve deploy` the Ray cluster's processes (set it "
        "where the cluster starts). Unset or empty: no authentication (the server binds 127.0.0.1 by default)."))
    allowed_hosts: list[str] = Field(default_factory=list, description=(
        "Host names, besides localhost and IP addresses, that requests may name in their Host header, e.g. "
        "[editrl.lan] behind a reverse proxy that keeps the client's Host; `*` allows any. A request on loopback "
        "that names another host is refused with 421: that is what a web page reaching a local server by DNS "
        "rebinding sends. On a non-loopback address the names are checked only when this lists some."))
    request_timeout_s: float = Field(default=30.0, gt=0, description=(
        "Longest time one edit may take, answered with 504 JSON. A Canvas episode takes ~30 ms; LM agents on a "
        "CPU take seconds."))
    ingress: IngressSettings = Field(default_factory=IngressSettings, description="Settings of the HTTP ingress deployment.")
    deployments: dict[str, DeploymentSettings] = Field(default_factory=dict, description=(
        "Per-agent deployment settings, by graph node name; nodes not listed take their pipeline config's values."))
    sample_split: str = Field(default="test", pattern="^(train|test)$", description=(
        "Split of the generated Canvas samples served at /v1/sample (test: held-out wording)."))

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().lower().rstrip(".")
            if name != "*" and (not name or any(c in name for c in "/:@[] ")):
                raise ValueError(f"{raw!r} is not a host name; write the bare name, e.g. editrl.lan (no scheme, port or path)")
            names.append(name)
        return names

    def token(self) -> str | None:
        """The bearer token in force, or None for no authentication."""
        if self.auth_token:
            return self.auth_token
        if self.auth_token_env:
            return os.environ.get(self.auth_token_env) or None
        return None


def format_validation_error(err: ValidationError, source: str) -> str:
    return f"invalid serve config {source}: " + "; ".join(validation_messages(err, ServeArgs))


def parse_args(args: dict[str, Any] | ServeArgs | None, source: str = "args") -> ServeArgs:
    if isinstance(args, ServeArgs):
        return args
    try:
        return ServeArgs.model_validate(args or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def _apply_checkpoint(config: PipelineConfig, checkpoint: str | None) -> PipelineConfig:
    if checkpoint is None:
        return config
    root = Path(checkpoint)
    # (Vision-)language-model agents take their `model` from the checkpoint; the others have no trained weights.
    lm_nodes = [n for n in config.graph.nodes if config.agents[n].capabilities.language_model]
    if not lm_nodes:
        raise ConfigError(f"checkpoint {checkpoint!r} is set but pipeline {config.name!r} has no language-model agent "
                          f"(backend {' or '.join(backends_with('language_model'))}); set checkpoint: null to serve it as configured")
    if not root.is_dir():
        raise ConfigError(f"checkpoint {checkpoint!r} is not a directory; point it at a training run's checkpoint folder")
    # The GRPO trainer's layout (orchestration/grpo/checkpoint.py): <run>/checkpoints/latest names iter_N/, whose
    # policies/<node>/ hold the models.
    if (root / "checkpoints" / "latest").is_file():
        root = root / "checkpoints"
    if (root / "latest").is_file():
        root = root / (root / "latest").read_text().strip()
    if (root / "policies").is_dir():
        root = root / "policies"
    agents = dict(config.agents)
    for node in lm_nodes:
        if (root / node).is_dir():
            path = root / node
        elif len(lm_nodes) == 1 and (root / "config.json").is_file():
            path = root
        else:
            raise ConfigError(f"checkpoint {checkpoint!r} has no model for agent {node!r}; expected the folder "
                              f"{root / node} (or a single model folder when the pipeline has one LM agent)")
        agents[node] = agents[node].model_copy(update={"model": str(path)})
    return config.model_copy(update={"agents": agents})


def resolve_pipeline(args: ServeArgs) -> PipelineConfig:
    """The pipeline to serve: loaded, overridden, checkpoint applied, checked for serving."""
    config = _apply_checkpoint(load_config(args.pipeline, args.overrides), args.checkpoint)
    check_model_paths(config)  # before any replica starts: a replica that cannot load its model would restart forever
    nodes = config.graph.nodes
    unknown = sorted(set(args.deployments) - set(nodes))
    if unknown:
        raise ConfigError(f"deployments: {', '.join(map(repr, unknown))} not in pipeline {config.name!r}; "
                          f"use the graph's node names: {', '.join(nodes)}")
    if not any(config.agents[n].role == "editor" for n in nodes):
        raise ConfigError(f"pipeline {config.name!r} has no editor, so it cannot return an image; serve one with an editor node")
    return config


def deployment_settings(args: ServeArgs, config: PipelineConfig, node: str) -> dict[str, Any]:
    """Every setting of one agent's deployment, with the pipeline config's values where the serve config is silent."""
    agent = config.agents[node]
    s = args.deployments.get(node, DeploymentSettings())
    max_batch = s.max_batch_size if s.max_batch_size is not None else agent.max_batch_size
    # language-model deployments batch with `@serve.batch` by default: one padded generation serves many requests
    batching = s.batching if s.batching is not None else agent.capabilities.language_model
    return {
        "num_replicas": s.num_replicas if s.num_replicas is not None else agent.replicas,
        "num_cpus": s.num_cpus if s.num_cpus is not None else agent.num_cpus,
        "num_gpus": s.num_gpus if s.num_gpus is not None else agent.num_gpus,
        # a replica must hold a whole batch for batches to fill
        "max_ongoing_requests": max(s.max_ongoing_requests, max_batch) if batching else s.max_ongoing_requests,
        "batching": batching,
        "max_batch_size": max_batch,
        "batch_wait_timeout_s": s.batch_wait_timeout_s if s.batch_wait_timeout_s is not None else agent.batch_wait_ms / 1000.0,
        "placement": s.placement,
        "health": s.health_options(),
    }


# -- the Serve config file ------------------------------------------------------------------------------------------


class ServeFile(BaseModel):
    """The parts of a Serve config file that `editrl serve` uses."""

    path: str
    http_options: dict[str, Any]
    name: str
    route_prefix: str
    args: ServeArgs


def read_serve_file(path: str | Path, overrides: Sequence[str] = (), app_name: str | None = None) -> ServeFile:
    """Read a Serve config file, pick the editrl application, apply `--set` overrides to its args and validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"serve config {str(path)!r} not found; pass a Serve config YAML such as configs/serve.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("applications"), list):
        raise ConfigError(f"{path}: a Serve config needs a top-level `applications` list (see configs/serve.yaml)")
    apps = [a for a in data["applications"] if isinstance(a, dict) and a.get("import_path") == IMPORT_PATH]
    if app_name is not None:
        apps = [a for a in apps if a.get("name") == app_name]
    if not apps:
        which = f"named {app_name!r} " if app_name else ""
        raise ConfigError(f"{path}: no application {which}with import_path {IMPORT_PATH}")
    app = apps[0]
    args = apply_overrides(dict(app.get("args") or {}), overrides)
    http = dict(data.get("http_options") or {})
    http.setdefault("host", "127.0.0.1")
    http.setdefault("port", 8000)
    return ServeFile(path=str(path), http_options=http, name=app.get("name", "editrl"),
                     route_prefix=app.get("route_prefix", "/"), args=parse_args(args, f"{path} (applications.args)"))
