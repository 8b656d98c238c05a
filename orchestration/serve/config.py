"""The serve configuration: the `args` of the editrl application in a Ray Serve config file, validated by pydantic.

`configs/serve.yaml` is an ordinary Serve config (`serve run configs/serve.yaml` deploys it); the application's
`args` are validated here (`ServeArgs`: unknown keys are rejected with their path). `editrl serve --config FILE`
reads the same file with `read_serve_file`. `resolve_pipeline` turns the args into the `PipelineConfig` that is
served: the named pipeline, its `--set`-style overrides, the checkpoint applied to the language-model agents, and
the per-deployment settings checked against the graph's nodes.

`read_serve_file` reads the rest of the file as `serve run` does: validated by Ray Serve's own models
(`ServeDeploySchema`, `DeploymentSchema`, `AutoscalingConfig`), and each of Serve's own keys either honoured
(`ServeFile.start_options`, `run_options`, `runtime_env`, `deployments`) or refused by name with what to do
instead. Serve itself ignores keys its models do not define; here such a key is an error naming the nearest one.
Ray Serve is imported inside the functions that need it, so this module loads without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.registry import backends_with
from orchestration.config import (
    ConfigError,
    PipelineConfig,
    apply_overrides,
    check_model_paths,
    load_config,
    nearest_hint,
    validation_messages,
)

#: Where the app is found in a Serve config file.
IMPORT_PATH = "orchestration.serve.app:build_app"
#: The name of the ingress deployment (the `EditService` class), as Serve's `deployments:` entries name it.
INGRESS = "EditService"


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


#: A fixed replica count (1 to 64, checked by `_Scaling`), or `auto` (Serve autoscales).
Replicas = int | Literal["auto"]


def unknown_serve_keys(data: Any, model: type[BaseModel], where: str) -> list[str]:
    """Keys in `data` that Serve's pydantic `model` (and the Serve models nested in it) do not define, each as
    `path: unknown key (did you mean ...)`. Serve's models ignore such keys, so a misspelt one would be dropped
    without a word."""
    import types
    import typing

    if not isinstance(data, dict):
        return []
    known = {name: field for name, field in model.model_fields.items()}
    known.update({f.alias: f for f in model.model_fields.values() if f.alias})
    found = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        field = known.get(key)
        if field is None:
            found.append(f"{path}: unknown key" + nearest_hint(str(key), list(model.model_fields)))
            continue
        annotation, is_list = field.annotation, False
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in typing.get_args(annotation) if typing.get_origin(a) is list]
            annotation = inner[0] if len(inner) == 1 else (lists[0] if len(lists) == 1 else None)
        if typing.get_origin(annotation) is list:
            annotation, is_list = typing.get_args(annotation)[0], True
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            continue
        if is_list and isinstance(value, list):
            for i, item in enumerate(value):
                label = item.get("name", i) if isinstance(item, dict) else i
                found += unknown_serve_keys(item, annotation, f"{path}[{label}]")
        else:
            found += unknown_serve_keys(value, annotation, path)
    return found


def _serve_errors(err: ValidationError) -> str:
    """A Serve model's validation errors as `key: problem; ...`."""
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(str(p) for p in e['loc'])}: {msg}" if e["loc"] else msg)
    return "; ".join(lines)


class _Scaling(_HealthChecks):
    """How many replicas a deployment runs: a fixed count, or Serve's autoscaling."""

    autoscaling_config: dict[str, Any] | None = Field(default=None, description=(
        "Serve's autoscaling of this deployment's replicas, as Serve's `autoscaling_config` (checked by "
        "ray.serve.config.AutoscalingConfig): min_replicas, max_replicas, initial_replicas, target_ongoing_requests, "
        "upscale_delay_s, downscale_delay_s, ... With num_replicas `auto` the fields left out take Serve's `auto` "
        "defaults (1 to 100 replicas, 2 ongoing requests each); with num_replicas unset they take "
        "AutoscalingConfig's own (max_replicas 1). num_replicas cannot be a number with it. null: no autoscaling."))

    @field_validator("num_replicas", mode="before", check_fields=False)
    @classmethod
    def _count_or_auto(cls, value: Any) -> Any:
        if value is None or value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64):
            return value
        raise ValueError(f"{value!r} is neither a number of replicas (1 to 64) nor 'auto' (Serve's autoscaling)")

    @field_validator("autoscaling_config")
    @classmethod
    def _serve_autoscaling(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from ray.serve.config import AutoscalingConfig

        unknown = unknown_serve_keys(value, AutoscalingConfig, "")
        if unknown:
            raise ValueError("; ".join(unknown))
        try:
            return AutoscalingConfig.model_validate(value).model_dump(mode="json", exclude_unset=True)
        except ValidationError as err:
            raise ValueError(_serve_errors(err)) from None

    @model_validator(mode="after")
    def _replicas_fit_autoscaling(self) -> "_Scaling":
        num_replicas = getattr(self, "num_replicas", None)
        if self.autoscaling_config is None or num_replicas is None:
            return self
        from ray.serve.schema import DeploymentSchema

        try:  # Serve's own rule for the pair (a number and autoscaling exclude each other)
            DeploymentSchema.model_validate({"name": "-", "num_replicas": num_replicas,
                                             "autoscaling_config": self.autoscaling_config})
        except ValidationError as err:
            raise ValueError(f"{_serve_errors(err)}; with autoscaling_config set num_replicas to auto or leave it out") from None
        return self

    def scaling(self, default_replicas: int) -> dict[str, Any]:
        """`num_replicas` and `autoscaling_config` as `Deployment.options` keywords."""
        num_replicas = getattr(self, "num_replicas", None)
        if self.autoscaling_config is not None:
            auto = {"num_replicas": "auto"} if num_replicas == "auto" else {}
            return {"autoscaling_config": dict(self.autoscaling_config), **auto}
        return {"num_replicas": default_replicas if num_replicas is None else num_replicas}


class DeploymentSettings(_Scaling):
    """Serve settings of one agent's deployment. Unset fields take the pipeline config's value for that agent."""

    num_replicas: Replicas | None = Field(default=None, description=(
        "Replicas (default: the agent's `replicas`), or `auto` for Serve's autoscaling (see autoscaling_config)."))
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
        "then scales with the ingress's replicas, so num_replicas, autoscaling_config, num_gpus, batching and the "
        "health checks cannot be set with it."))

    @model_validator(mode="after")
    def _ingress_has_no_deployment_settings(self) -> "DeploymentSettings":
        if self.placement == "ingress":
            clash = [name for name in ("num_replicas", "autoscaling_config", "num_gpus", "batching", "health_check_period_s",
                                      "health_check_timeout_s")
                     if getattr(self, name) is not None]
            if clash:
                raise ValueError(f"placement 'ingress' runs the agent inside the ingress replicas, so {', '.join(clash)} "
                                 "cannot be set; drop them or use placement 'deployment'")
        return self


class IngressSettings(_Scaling):
    """Serve settings of the HTTP ingress, which decodes requests and runs the graph by awaiting agent handles."""

    num_replicas: Replicas | None = Field(default=None, description=(
        "Ingress replicas (default 1: one async replica drives many episodes at once), or `auto` for Serve's "
        "autoscaling (see autoscaling_config)."))
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
    scaling = s.scaling(agent.replicas)
    return {
        # an int, "auto", or None (autoscaling_config alone: Serve scales within it)
        "num_replicas": scaling.get("num_replicas"),
        "autoscaling_config": scaling.get("autoscaling_config"),
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
    """A Serve config file as `editrl serve` runs it: the editrl application's args, and each of Serve's own keys that
    it honours, in the form Serve's Python API takes them (what `serve run FILE` does with the same keys)."""

    path: str
    http_options: dict[str, Any]
    name: str
    route_prefix: str
    args: ServeArgs
    start_options: dict[str, Any] = Field(default_factory=dict, description=(
        "`serve.start` keywords besides http_options: proxy_location, and grpc_options, logging_config, "
        "tracing_config, controller_options where the file sets them."))
    run_options: dict[str, Any] = Field(default_factory=dict, description=(
        "`serve.run` keywords besides name and route_prefix: the application's logging_config (else the file's), "
        "external_scaler_enabled."))
    runtime_env: dict[str, Any] = Field(default_factory=dict, description=(
        "The application's runtime_env, merged into every deployment's as Serve merges it."))
    deployments: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "The application's `deployments:` entries (Serve's own per-deployment settings) by deployment name, as "
        "`Deployment.options` keywords; applied over the args' settings, as Serve applies them under `serve run`."))

    @contextmanager
    def build_environment(self) -> Iterator[None]:
        """The application's `runtime_env.env_vars` set in this process while the app is built: `serve run` builds
        it in a Ray task with that runtime_env, so the builder sees them there (auth_token_env, for one)."""
        env_vars = {k: str(v) for k, v in (self.runtime_env.get("env_vars") or {}).items()}
        previous = {name: os.environ.get(name) for name in env_vars}
        os.environ.update(env_vars)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _deployment_entries(app: Any, where: str, path: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """An application's `deployments:` entries as `Deployment.options` keywords by name, and the refusals."""
    import inspect

    from ray.serve.config import AutoscalingConfig
    from ray.serve.deployment import Deployment

    settable = set(inspect.signature(Deployment.options).parameters)
    entries: dict[str, dict[str, Any]] = {}
    refused = []
    for entry in app.deployments:
        at = f"{where}.deployments[{entry.name}]"
        if entry.name in entries:
            refused.append(f"{at}: listed twice; merge the two entries")
        options = entry.model_dump(exclude_unset=True, exclude={"name"})
        for key in sorted(options):
            if key == "user_config":
                refused.append(f"{at}.user_config: the editrl deployments have no reconfigure() to take it, so Serve "
                               "could not start them; set agent settings in args.overrides (e.g. editor.options.mode=...)")
            elif key not in settable:
                refused.append(f"{at}.{key}: Serve applies it only when its controller deploys the file itself, and "
                               f"editrl serve builds the app in its own process; remove it, or run the file with "
                               f"`serve run {path}`")
        if options.get("autoscaling_config") is not None:
            try:  # Serve's schema keeps it a plain dict; Serve checks it only once the deployment starts
                AutoscalingConfig.model_validate(options["autoscaling_config"])
            except ValidationError as err:
                refused.append(f"{at}.autoscaling_config: {_serve_errors(err)}")
        entries[entry.name] = options
    return entries, refused


def read_serve_file(path: str | Path, overrides: Sequence[str] = (), app_name: str | None = None) -> ServeFile:
    """Read a Serve config file, pick the editrl application, apply `--set` overrides to its args and validate.

    The whole file is checked with Serve's `ServeDeploySchema` (what `serve run` checks), and every key Serve's
    models do not define is refused. Of Serve's own keys, those `editrl serve` cannot honour are refused by name
    with what to do instead: `target_capacity`, an application's `autoscaling_policy` and `route_prefix: null`, a
    `deployments:` entry's `user_config` and keys only Serve's controller applies, and other applications in the
    file unless `app_name` picks one."""
    from ray.serve.schema import ServeDeploySchema

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
    unknown = unknown_serve_keys(data, ServeDeploySchema, "")
    if unknown:
        raise ConfigError(f"{path}: {'; '.join(unknown)}; Serve's config has no such key (`serve run` would drop it "
                          "without a word), so correct or remove it")
    try:
        schema = ServeDeploySchema.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: not a valid Serve config (the check `serve run` makes): {_serve_errors(err)}") from None
    app = schema.applications[data["applications"].index(apps[0])]
    where = f"applications[{app.name}]"

    refused = []
    if len(schema.applications) > 1 and app_name is None:
        names = ", ".join(a.name for a in schema.applications)
        refused.append(f"applications: the file holds {len(schema.applications)} applications ({names}) and editrl "
                       f"serve runs one; pick it with --app {app.name}, or run them all with `serve run {path}`")
    if schema.target_capacity is not None:
        refused.append("target_capacity: Serve scales applications by it only when its controller deploys the file "
                       f"(`serve deploy`); remove it, or deploy the file with `serve deploy {path}`")
    if app.autoscaling_policy is not None:
        refused.append(f"{where}.autoscaling_policy: an application-wide autoscaling policy is not applied by "
                       "editrl serve; autoscale each agent with args.deployments.<node>.autoscaling_config instead")
    if app.route_prefix is None:
        refused.append(f"{where}.route_prefix: null serves no HTTP, and HTTP is all the editrl app answers; set a "
                       "prefix such as /")
    deployments, entry_refusals = _deployment_entries(app, where, path)
    refused += entry_refusals
    if refused:
        raise ConfigError(f"{path}: " + "; ".join(refused))

    start: dict[str, Any] = {"proxy_location": schema.proxy_location}  # `serve run` passes Serve's default too
    for key in ("grpc_options", "logging_config", "tracing_config", "controller_options"):
        if key in schema.model_fields_set and getattr(schema, key) is not None:
            start[key] = getattr(schema, key).model_dump(mode="json", exclude_unset=True)
    run: dict[str, Any] = {}
    logging_config = app.logging_config or schema.logging_config  # Serve's rule: the file's, where the app sets none
    if logging_config is not None:
        run["logging_config"] = logging_config.model_dump(mode="json", exclude_unset=True)
    if app.external_scaler_enabled:
        run["external_scaler_enabled"] = True

    raw = apps[0]
    args = apply_overrides(dict(raw.get("args") or {}), overrides)
    http = dict(data.get("http_options") or {})
    http.setdefault("host", "127.0.0.1")
    http.setdefault("port", 8000)
    return ServeFile(path=str(path), http_options=http, name=app.name, route_prefix=app.route_prefix,
                     args=parse_args(args, f"{path} (applications.args)"), start_options=start, run_options=run,
                     runtime_env=dict(app.runtime_env), deployments=deployments)
