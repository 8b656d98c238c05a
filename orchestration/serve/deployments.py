"""One Serve deployment per agent node, and the handle the ingress awaits to call it - or, with `placement:
ingress`, the agent object inside the ingress replica itself (`InIngressAgent`), which saves a Ray call per step.

`AgentDeployment` is generic: `agent_deployment(node, cls, kwargs, settings)` names it after the node and gives it
the node's replicas (a number, or Serve's autoscaling) and resources, with the Serve config file's own
`deployments:` entry for the node applied over them as Serve applies it (`serve_options`). A replica owns one agent
object and runs its calls on one worker thread, one at a time (agents are not thread-safe - LM agents hold a sampler
and a cache - and are CPU- or GPU-bound, so more threads would only contend), which keeps the replica's event loop
free to queue requests and answer health checks.

Batching: with `batching` (LM backends by default), concurrent requests are gathered by `@serve.batch` - up to
`max_batch_size`, waiting at most `batch_wait_timeout_s` - and handed to the agent's `act_batch` together, which LM
agents turn into one padded generation. Other agents call `act` once per request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
from ray import serve
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle

from agents.base import AgentOutput, EpisodeState
from orchestration.pipeline import AgentCallError
from orchestration.serve.runner import AgentUnavailable

UNAVAILABLE = (BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError, ray.exceptions.RayActorError)


@serve.deployment
class AgentDeployment:
    """Hosts one agent of the graph (module docstring)."""

    def __init__(self, node: str, agent_cls: type, kwargs: dict[str, Any], batching: bool = False,
                 max_batch_size: int = 16, batch_wait_timeout_s: float = 0.005, info: dict[str, Any] | None = None):
        self.node = node
        self.agent = agent_cls(**kwargs)
        self.batching = batching
        self.info = dict(info or {})
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent-{node}")
        self.calls = self.batches = 0
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def __call__(self, state: EpisodeState) -> AgentOutput:
        self.calls += 1
        if self.batching:
            return await self._batched(state)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.agent.act, state)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def _batched(self, states: list[EpisodeState]) -> list[AgentOutput]:
        self.batches += 1
        outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.agent.act_batch, states)
        if len(outputs) != len(states):
            raise RuntimeError(f"agent {self.node!r}: act_batch returned {len(outputs)} outputs for {len(states)} states")
        return list(outputs)

    def describe(self) -> dict[str, Any]:
        """The agent's own description (backend, class, model) plus the deployment's settings and counters."""
        return {**self.agent.describe(), **self.info, "batching": self.batching, "calls": self.calls, "batches": self.batches}


def serve_options(base: Mapping[str, Any], override: Mapping[str, Any] | None = None,
                  runtime_env: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`Deployment.options` keywords: the app's own (`base`) with a Serve `deployments:` entry (`override`) applied
    over them, and the application's `runtime_env` merged in - what Serve's controller does with the same file
    under `serve run`. Each key of the entry replaces the app's (`ray_actor_options` as a whole); a replica count
    and autoscaling replace each other; the runtime_env is the replica's own over the application's, env_vars
    merged (Serve's own merge)."""
    options = dict(base)
    entry = dict(override or {})
    if "autoscaling_config" in entry and "num_replicas" not in entry:
        options.pop("num_replicas", None)  # an autoscaled deployment has no fixed count
    if isinstance(entry.get("num_replicas"), int):
        options.pop("autoscaling_config", None)  # a fixed count ends the app's autoscaling
    options.update(entry)
    if runtime_env:
        from ray.serve._private.utils import override_runtime_envs_except_env_vars

        actor = dict(options.get("ray_actor_options") or {})
        actor["runtime_env"] = override_runtime_envs_except_env_vars(dict(runtime_env), dict(actor.get("runtime_env") or {}))
        options["ray_actor_options"] = actor
    return options


def scaling_info(options: Mapping[str, Any]) -> dict[str, Any]:
    """How a deployment's replica count is set, for `describe()`: a number, or `auto` and the autoscaling bounds."""
    if options.get("autoscaling_config") is None and options.get("num_replicas") != "auto":
        return {"num_replicas": options.get("num_replicas", 1)}
    return {"num_replicas": "auto", "autoscaling_config": dict(options.get("autoscaling_config") or {})}


def agent_deployment(node: str, agent_cls: type, kwargs: dict[str, Any], settings: dict[str, Any],
                     override: Mapping[str, Any] | None = None, runtime_env: Mapping[str, Any] | None = None) -> Any:
    """The bound deployment for one graph node, with the replicas and resources of `settings`
    (`orchestration.serve.config.deployment_settings`), then the Serve config file's `deployments:` entry for the
    node and the application's runtime_env (`serve_options`)."""
    actor = {"num_cpus": settings["num_cpus"]}
    if settings["num_gpus"]:
        actor["num_gpus"] = settings["num_gpus"]
    base: dict[str, Any] = {"ray_actor_options": actor, "max_ongoing_requests": settings["max_ongoing_requests"],
                            **settings["health"]}
    for key in ("num_replicas", "autoscaling_config"):
        if settings[key] is not None:
            base[key] = settings[key]
    options = serve_options(base, override, runtime_env)
    placed = options.get("ray_actor_options") or {}
    info = {"placement": "deployment", **scaling_info(options), "num_cpus": placed.get("num_cpus"),
            "num_gpus": placed.get("num_gpus", 0), "max_ongoing_requests": options["max_ongoing_requests"]}
    if settings["batching"]:
        info.update(max_batch_size=settings["max_batch_size"], batch_wait_timeout_s=settings["batch_wait_timeout_s"])
    return AgentDeployment.options(name=node, **options).bind(
        node, agent_cls, kwargs, settings["batching"], settings["max_batch_size"], settings["batch_wait_timeout_s"], info)


class ServeAgentHandle:
    """What the ingress's `AsyncPipeline` calls: awaits the node's deployment and sorts its failures into
    `AgentUnavailable` (503: nothing to run it on) and `AgentCallError` (the agent failed on this input)."""

    def __init__(self, node: str, handle: DeploymentHandle):
        self.node = node
        self.handle = handle

    async def acall(self, state: EpisodeState) -> AgentOutput:
        try:
            return await self.handle.remote(state)
        except UNAVAILABLE as err:
            raise AgentUnavailable(self.node, f"{type(err).__name__}: {err}") from None
        except asyncio.CancelledError:
            raise
        except Exception as err:
            raise AgentCallError(self.node, f"{type(err).__name__}: {err}") from None

    async def describe(self) -> dict[str, Any]:
        return await self.handle.describe.remote()


class InIngressAgent:
    """An agent held by the ingress replica (`placement: ingress`), behind the same `acall`/`describe` interface as
    `ServeAgentHandle`, plus `call_sync`, which `AsyncPipeline` calls on its worker threads (consecutive in-ingress
    agents in one hop). Calls run one at a time (a lock: agents are not thread-safe) and never on the event loop,
    which stays free; a failure is an `AgentCallError` (500 for this request only), and there is no "unavailable":
    the agent lives and dies with the replica that answers the request."""

    def __init__(self, node: str, agent_cls: type, kwargs: dict[str, Any]):
        self.node = node
        self.agent = agent_cls(**kwargs)
        self.lock = threading.Lock()
        self.calls = 0

    def call_sync(self, state: EpisodeState) -> AgentOutput:
        with self.lock:
            self.calls += 1
            return self.agent.act(state)

    async def acall(self, state: EpisodeState) -> AgentOutput:
        try:
            return await asyncio.to_thread(self.call_sync, state)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            raise AgentCallError(self.node, f"{type(err).__name__}: {err}") from None

    async def describe(self) -> dict[str, Any]:
        return {**self.agent.describe(), "placement": "ingress", "calls": self.calls}
