"""Training entry point: SFT cold start, GRPO on RLlib, checkpoints, metrics, before/after evaluation.

``python -m orchestration.train --config CFG [...]`` and ``editrl train --config CFG [...]`` do the same thing (the
CLI calls :func:`main`), and so does ``ray job submit --working-dir . -- python -m orchestration.train ...``: inside
a Ray job the driver connects to the job's cluster (``RAY_ADDRESS``), otherwise it starts a local one.

A run writes, under ``train.run_dir`` (default ``runs/<pipeline name>``): ``config.yaml`` (the resolved pipeline
config), ``checkpoints/`` (see :mod:`orchestration.grpo.checkpoint`), ``metrics.parquet``, ``rollouts.parquet``
(with their journals of rows not yet folded in) and ``tb/`` (see :mod:`orchestration.grpo.metrics`), and with
``eval_tasks > 0`` ``eval.json`` / ``eval.md`` (the before/after table on held-out test tasks). Each file is replaced
atomically and one process trains in a run folder at a time (:mod:`orchestration.run_folder`). ``--resume`` refuses
settings that differ from the ones the checkpoint restores (:func:`resume_config`). With ``train.wandb`` or
``train.mlflow`` the same metrics also go to Weights & Biases or MLflow (:mod:`orchestration.grpo.trackers`).

Messages and progress go to the ``editrl.train`` logger (stderr under the CLI, see :mod:`orchestration.logs`); the
functions below take ``log`` to send their messages elsewhere instead (a benchmark's prefixed lines). The
before/after table, the result a run is for, is printed to stdout by :func:`train_command`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from pydantic import ValidationError

from orchestration.config import ConfigError, PipelineConfig, check_model_paths, load_config
from orchestration.grpo.config import (RLLIB_FIELDS, GRPOConfig, GRPOSettings, TrainSection, build_grpo_config,
                                       train_section, weak_verifier_rewards)
from orchestration.grpo.trackers import TRACKERS_FILE, check_trackers
from orchestration.logs import get_logger, library_progress_bars, progress_bar_wanted, progress_enabled
from orchestration.run_folder import run_folder_lock, write_text_atomic

logger = get_logger("train")
Log = Callable[[str], None]


def _warn(log: Log | None, message: str) -> None:
    """A warning: to ``log`` when the caller routes messages itself, else to the logger at WARNING (shown even
    under ``--quiet``)."""
    if log is None:
        logger.warning(message)
    else:
        log(f"warning: {message}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `train` arguments (shared by `editrl train` and `python -m orchestration.train`)."""
    p.add_argument("--config", required=True, help="pipeline YAML path or packaged name (imageedit_r1, dda_thinker, thinkrl_edit)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.group_size=4 (repeatable)")
    p.add_argument("--run-dir", default=None, help="output folder (default: train.run_dir, else runs/<pipeline name>)")
    p.add_argument("--iterations", type=int, default=None, help="total GRPO iterations (default: train.iterations)")
    p.add_argument("--time-budget", type=float, default=None, help="stop GRPO after this many seconds (default: train.time_budget_s)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint (same iteration counter, "
                                                          "optimizer and random state)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in the run folder, deleting its checkpoints and logs")
    p.add_argument("--sft-first", action="store_true", help="run the SFT cold start (train.sft) first and train from its policies")
    p.add_argument("--eval-tasks", type=int, default=None, help="held-out test tasks for the before/after table (default: train.eval_tasks)")


def add_sft_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="pipeline YAML; its train.sft section says what to cold-start")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--out", default=None, help="output folder (default: train.sft.out_dir)")
    p.add_argument("--steps", type=int, default=None, help="SFT steps per role (default: train.sft.steps)")


# -- SFT ---------------------------------------------------------------------------------------------------------


def run_sft(config: PipelineConfig, section: TrainSection, log: Log | None = None) -> dict[str, Any]:
    """The supervised cold start of ``section.sft``: tokenizer + one tiny LM per role, saved to ``out_dir/<role>``.

    Progress of the SFT steps follows the ``editrl`` logger: a bar on a terminal, a line every few steps otherwise,
    nothing under ``--quiet`` (:func:`orchestration.logs.progress_bar_wanted`)."""
    from agents.lm.sft import cold_start

    sft_logger = get_logger("sft")
    progress = "bar" if progress_bar_wanted(sft_logger) else "lines" if progress_enabled(sft_logger) else None
    log = log or sft_logger.info
    sft = section.sft
    optional = {k: v for k, v in (("n_tasks", sft.n_tasks), ("steps", sft.steps), ("lr", sft.lr), ("batch_size", sft.batch_size),
                                  ("step_mix", sft.step_mix)) if v is not None}
    log(f"SFT cold start: roles {', '.join(sft.roles)} -> {sft.out_dir}" + (f" ({optional})" if optional else ""))
    policy_roles = tuple(role for role in sft.roles if role != "verifier")
    report: dict[str, Any] = {"roles": {}}
    reflection = None
    if sft.reflection is not None:
        reflection = {**sft.reflection.model_dump(), **reflection_agents(config)}
    if policy_roles:
        report = cold_start(sft.out_dir, roles=policy_roles, seed=sft.seed, eval_tasks=sft.eval_tasks, eval_every=sft.eval_every,
                            eval_seed=sft.eval_seed, model_overrides=dict(sft.model), num_threads=sft.num_threads or os.cpu_count(),
                            workers=sft.workers, **sft.data_options(), lookup_steps=sft.lookup_steps,
                            init={role: path for role, path in sft.init.items() if role in policy_roles},
                            reflection=reflection,
                            log=log, progress=progress, **optional)
    if "verifier" in sft.roles:
        # The reward model trains on its own data (reward trajectories of judged edits) with its own tokenizer.
        from agents.lm.verifier_sft import verifier_cold_start

        verifier = verifier_cold_start(sft.out_dir, seed=sft.seed, model_overrides=dict(sft.model), init_from=sft.init.get("verifier"),
                                       num_threads=sft.num_threads or os.cpu_count(), workers=sft.workers, log=log,
                                       progress=progress, **optional)
        report = {**report, "roles": {**report["roles"], **verifier["roles"]}}
    return report


def reflection_agents(config: PipelineConfig) -> dict[str, Any]:
    """The pipeline's editor and verifier, built in this process, for the thinker's reflection SFT stage."""
    from orchestration.graph import build_graph
    from orchestration.pipeline import agent_kwargs

    graph = build_graph(config)
    agents = {}
    for role in ("editor", "verifier"):
        node = next((n for n in graph.order if graph.roles[n] == role), None)
        if node is None:
            raise ConfigError(f"train.sft.reflection carries out and checks the thinker's plans with the pipeline's "
                              f"{role}, and this pipeline has none: add one to graph.nodes, or drop train.sft.reflection")
        agents[role] = graph.classes[node](**agent_kwargs(config.agents[node], config))
    return agents


def use_sft_policies(config: PipelineConfig, section: TrainSection) -> PipelineConfig:
    """The pipeline with every agent that takes the cold start (``Capabilities.cold_start``) and whose role the SFT
    trained pointed at ``sft.out_dir/<role>``."""
    data = config.model_dump(mode="json")
    for name, agent in data["agents"].items():
        if config.agents[name].capabilities.cold_start and agent["role"] in section.sft.roles:
            agent["model"] = str(Path(section.sft.out_dir) / agent["role"])
    return PipelineConfig.model_validate(data)


# -- GRPO --------------------------------------------------------------------------------------------------------


def init_ray() -> None:
    """Connect to the job's cluster inside `ray job submit` (RAY_ADDRESS is set), else start a local one."""
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:  # "local": a cluster of our own, never one that someone else's `ray start` left on this machine
        ray.init(address="local", include_dashboard=False, log_to_driver=False)


def run_training(config: PipelineConfig, section: TrainSection, *, run_dir: str | Path, resume: bool = False,
                 log: Log | None = None, progress: bool = True) -> dict[str, Any]:
    """GRPO for ``section.iterations`` iterations (or ``time_budget_s``), with checkpoints, metrics and evaluation.

    Holds the run folder's lock throughout (:class:`orchestration.run_folder.RunFolderBusy` if another process has
    it). Returns the run summary (also written to ``<run_dir>/summary.json``). Messages go to ``log`` if given, else
    to the ``editrl.train`` logger; ``progress`` adds one line (or a bar's step) per iteration.
    """
    with run_folder_lock(run_dir, log or logger.warning):
        return _run_training(config, section, run_dir=Path(run_dir), resume=resume, log=log, progress=progress)


def _run_training(config: PipelineConfig, section: TrainSection, *, run_dir: Path, resume: bool,
                  log: Log | None, progress: bool) -> dict[str, Any]:
    from orchestration.grpo.checkpoint import latest_checkpoint
    from orchestration.grpo.evaluate import held_out_tasks
    from orchestration.grpo.trackers import close_trackers, open_trackers

    routed, log = log, log or logger.info  # routed: the caller's own destination, for warnings too
    grpo_config = build_grpo_config(config, section)
    grpo_config.validate()  # config errors before any actor starts
    check_trackers(section)  # a tracker package that is not installed: one line now, not after the evaluation
    for warning in weak_verifier_rewards(config, grpo_config.resolved_trainable()):
        _warn(routed, warning)
    if not resume:  # a missing cold start is one line naming `editrl sft`, not a loader traceback from an actor
        check_model_paths(config)
    checkpoint = latest_checkpoint(run_dir)
    if resume and checkpoint is None:
        raise ConfigError(f"--resume: {run_dir} has no checkpoint to resume from; run without --resume first")
    if not resume and checkpoint is not None:
        raise ConfigError(f"{run_dir} already holds checkpoints; pass --resume to continue that run or --run-dir for a new one")
    if checkpoint is not None:
        config = resume_config(config, section, checkpoint, run_dir, routed)

    eval_rows = read_eval(run_dir, routed)
    tasks = held_out_tasks(section.eval_tasks, section.eval_seed, config.image_size) if section.eval_tasks else []
    check_eval_tasks(eval_rows, tasks, section, run_dir)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    trackers = open_trackers(section, run_dir, config.model_dump(mode="json"), resume=checkpoint is not None, log=routed)
    status = "failed"
    try:
        summary = _train_and_evaluate(config, section, grpo_config, run_dir=run_dir, checkpoint=checkpoint,
                                      eval_rows=eval_rows, tasks=tasks, trackers=trackers, log=log, progress=progress)
        status = "finished"
        return summary
    except KeyboardInterrupt:
        status = "killed"
        raise
    finally:
        close_trackers(trackers, status, log=routed)


def _train_and_evaluate(config: PipelineConfig, section: TrainSection, grpo_config: GRPOConfig, *, run_dir: Path,
                        checkpoint: Path | None, eval_rows: dict[str, Any], tasks: list[Any], trackers: list[Any],
                        log: Log, progress: bool) -> dict[str, Any]:
    """The held-out "before", the GRPO loop and the "after" of :func:`run_training`, once the settings are checked."""
    from orchestration.grpo.algorithm import GRPO
    from orchestration.grpo.checkpoint import checkpoint_root, latest_checkpoint, remove_leftovers, save_checkpoint
    from orchestration.grpo.evaluate import compact_rows, evaluate_pipeline, format_before_after, format_table
    from orchestration.grpo.metrics import MetricsLog, Progress, iteration_metrics

    if tasks and "before" not in eval_rows:
        log(f"evaluating the starting policies on {len(tasks)} held-out test tasks (seed {section.eval_seed}) ...")
        before = evaluate_pipeline(config, tasks)
        eval_rows["before"] = before["summary"]
        eval_rows["before_rows"] = compact_rows(before["rows"])
        write_text_atomic(run_dir / "eval.json", json.dumps(eval_rows, indent=1))

    init_ray()
    if checkpoint is not None:
        removed = remove_leftovers(checkpoint_root(run_dir))  # a save the previous process was killed in
        log(f"resuming from {checkpoint}" + (f" (removed the unfinished {', '.join(removed)})" if removed else ""))
        algo = GRPO.from_checkpoint(str((checkpoint / "rllib").resolve()))
    else:
        algo = grpo_config.build_algo()
    agents = list(algo.trainable)
    selection = PolicySelector(config, section, run_dir, eval_rows, agents, log) if section.select_best else None
    metrics_log = MetricsLog(run_dir, start_iteration=algo.iteration, trackers=trackers)
    bar = Progress(section.iterations, initial=algo.iteration, enabled=progress, agents=agents)
    start = time.perf_counter()
    eval_s = 0.0  # held-out evaluation inside the loop: not GRPO time
    last_saved = None
    metrics: dict[str, float] = {}
    curve: list[dict[str, Any]] = eval_rows.setdefault("curve", []) if tasks and section.eval_every else []
    try:
        while algo.iteration < section.iterations:
            if section.time_budget_s is not None and time.perf_counter() - start - eval_s >= section.time_budget_s:
                log(f"time budget of {section.time_budget_s:.0f} s reached after iteration {algo.iteration}")
                break
            result = algo.train()
            metrics = iteration_metrics(result)
            metrics_log.log(algo.iteration, metrics, algo.last_rollouts, time.perf_counter() - start - eval_s)
            bar.update(algo.iteration, metrics)
            evaluate_now = bool(tasks) and section.eval_every > 0 and algo.iteration % section.eval_every == 0
            select_now = selection is not None and selection.due(algo.iteration)
            if evaluate_now or select_now or (section.checkpoint_every and algo.iteration % section.checkpoint_every == 0):
                last_saved = save_checkpoint(algo, run_dir, section.keep_checkpoints, metrics)
            if select_now:
                t0 = time.perf_counter()
                selection.judge(algo.iteration, {n: last_saved / "policies" / n for n in agents})
                eval_s += time.perf_counter() - t0
            if evaluate_now:
                t0 = time.perf_counter()
                point = evaluate_pipeline(config, tasks, models={n: str(last_saved / "policies" / n) for n in agents})["summary"]
                eval_s += time.perf_counter() - t0
                curve.append({"iteration": algo.iteration, "grpo_s": round(time.perf_counter() - start - eval_s, 1), **point})
                metrics_log.log_heldout(algo.iteration, point)
                write_text_atomic(run_dir / "eval.json", json.dumps(eval_rows, indent=1))
        bar.close()
        grpo_s = time.perf_counter() - start - eval_s
        current = latest_checkpoint(run_dir)
        if current is not None and current.name == f"iter_{algo.iteration:06d}":
            last_saved = current  # e.g. resumed with nothing left to run: never rewrite the checkpoint it came from
        else:
            last_saved = save_checkpoint(algo, run_dir, section.keep_checkpoints, metrics)
        log(f"{type(algo).__name__}: {algo.iteration} iterations, {grpo_s:.0f} s this session; checkpoint {last_saved}")
    finally:
        bar.close()
        metrics_log.close()
        algo.stop()

    policies = {node: str(last_saved / "policies" / node) for node in agents}
    summary: dict[str, Any] = {"run_dir": str(run_dir), "iterations": algo.iteration, "grpo_s": round(grpo_s, 1),
                               "checkpoint": str(last_saved), "policies": policies, "final_metrics": metrics}
    if selection is not None:
        summary["policies"] = policies = selection.best_policies()
        summary["selected"] = {k: v for k, v in eval_rows["selection"]["best"].items() if k != "policies"}
        summary["selection"] = eval_rows["selection"]
        log(f"selected policy: iteration {summary['selected']['iteration']} ({section.select_best.metric} "
            f"{summary['selected']['value']:.3f} on {section.select_best.tasks} validation tasks of seed {section.select_best.seed})")
    if tasks:
        log(f"evaluating the trained policies on {len(tasks)} held-out test tasks ...")
        after = evaluate_pipeline(config, tasks, models=policies)
        eval_rows["after"] = after["summary"]
        eval_rows["after"]["iterations"] = algo.iteration
        eval_rows["after_rows"] = compact_rows(after["rows"])
        write_text_atomic(run_dir / "eval.json", json.dumps(eval_rows, indent=1))
        chosen = summary["selected"]["iteration"] if selection is not None else algo.iteration
        labels = ("before (starting policy)", f"after GRPO ({algo.iteration} it)" if chosen == algo.iteration
                  else f"after GRPO (best of {algo.iteration} it: {chosen})")
        table = format_table({labels[0]: eval_rows["before"], labels[1]: eval_rows["after"]})
        if "before_rows" in eval_rows:  # absent only in a run folder written before per-task rows were kept
            table += "\n\n" + format_before_after(eval_rows["before_rows"], eval_rows["after_rows"], labels)
        if eval_rows.get("curve"):
            table += "\n\n" + format_curve(eval_rows["before"], eval_rows["curve"])
        write_text_atomic(run_dir / "eval.md", table + "\n")
        summary["eval"] = eval_rows
        log(f"before/after table written to {run_dir / 'eval.md'}")
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=1, default=float))
    return summary


class PolicySelector:
    """``train.select_best``: judges the starting policy and then a checkpoint every ``every`` iterations on the
    validation tasks, and keeps a copy of the best in ``<run_dir>/selected_policies/iter_NNNNNN``. Its record lives in
    ``eval_rows["selection"]`` (eval.json), so a resumed run goes on comparing with the best before the kill."""

    def __init__(self, config: PipelineConfig, section: TrainSection, run_dir: Path, eval_rows: dict[str, Any],
                 agents: list[str], log: Log) -> None:
        from orchestration.grpo.evaluate import held_out_tasks

        self.config, self.settings, self.agents, self.log = config, section.select_best, agents, log
        self.folder, self.eval_json, self.eval_rows = run_dir / "selected_policies", run_dir / "eval.json", eval_rows
        self.tasks = held_out_tasks(self.settings.tasks, self.settings.seed, config.image_size)
        self.record: dict[str, Any] = eval_rows.setdefault("selection", {"candidates": []})
        if "best" not in self.record:  # the starting policy is the first candidate: GRPO must beat it to replace it
            log(f"judging the starting policies on {len(self.tasks)} validation tasks (seed {self.settings.seed}) ...")
            starting = {n: Path(str(config.agents[n].model)) for n in agents}
            value = self._score(starting)
            self.record["candidates"].append({"iteration": 0, "value": value})
            self.record["best"] = {"iteration": 0, "value": value, "policies": {n: str(p) for n, p in starting.items()}}

    def due(self, iteration: int) -> bool:
        return iteration % self.settings.every == 0

    def _score(self, policies: dict[str, Path]) -> float:
        from orchestration.grpo.evaluate import evaluate_pipeline

        summary = evaluate_pipeline(self.config, self.tasks, models={n: str(p) for n, p in policies.items()})["summary"]
        return float(summary[self.settings.metric])

    def judge(self, iteration: int, policies: dict[str, Path]) -> None:
        """Score the checkpoint's ``policies``; if it beats the best so far, copy them to
        ``selected_policies/iter_NNNNNN``. The previous best is deleted only once eval.json names the new one, so a
        kill at any point leaves the recorded best on disk."""
        value = self._score(policies)
        self.record["candidates"].append({"iteration": iteration, "value": value})
        final = self.folder / f"iter_{iteration:06d}"
        improved = value > self.record["best"]["value"]
        if improved:
            staging = final.with_name(final.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            for node, path in policies.items():
                shutil.copytree(path, staging / node)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
            self.record["best"] = {"iteration": iteration, "value": value, "policies": {n: str(final / n) for n in policies}}
        write_text_atomic(self.eval_json, json.dumps(self.eval_rows, indent=1))
        if improved:
            for old in self.folder.iterdir():
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
        self.log(f"validation at iteration {iteration}: {self.settings.metric} {value:.3f} "
                 f"(best {self.record['best']['value']:.3f} at iteration {self.record['best']['iteration']})")

    def best_policies(self) -> dict[str, str]:
        return dict(self.record["best"]["policies"])


# -- resuming ----------------------------------------------------------------------------------------------------

# What a resumed run takes from its checkpoint: `GRPO.from_checkpoint` rebuilds the algorithm from the config it
# pickled (every field the GRPO builder sets, and the pipeline with its agents, graph and rewards), not from the
# config on the command line. A changed value there would be ignored by training, while config.yaml and the
# held-out evaluation (which builds the pipeline from the new config) would show it: so resume_config refuses it.
# The rest of `train:` - iterations, time_budget_s, checkpoint_every, keep_checkpoints, run_dir, eval_tasks,
# eval_seed, eval_every, select_best, sft, wandb, mlflow - never reaches the restored algorithm: it says how long
# this session runs, when it saves, what it measures and where else the metrics go, so it may change
# (check_eval_tasks keeps a before/after pair on the same tasks). So may the pipeline's `description`, which nothing reads.
_RESTORED_FIELDS = (*GRPOSettings.model_fields, *RLLIB_FIELDS.values(), "seed", "trainable_agents")
_YAML_NAMES = {**{rllib: f"train.{name}" for name, rllib in RLLIB_FIELDS.items()}, "trainable_agents": "train.agents",
               "seed": "train.seed (default: seed)"}
_RUN_SETTINGS = ("iterations", "time_budget_s", "checkpoint_every", "keep_checkpoints", "run_dir", "eval_tasks",
                 "eval_seed", "eval_every", "select_best", "sft", "wandb", "mlflow")


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def restored_settings(state: dict[str, Any]) -> dict[str, Any]:
    """The settings a checkpoint restores, from an algorithm config state (``GRPOConfig.get_state()``), flat and
    named as in a pipeline YAML: ``{"train.lr": 2e-4, "agents.editor.options.steps": 4, ...}``."""
    pipeline = dict(state.get("pipeline_config") or {})
    try:  # through the model, so that a field added since the checkpoint was written compares as its default
        pipeline = PipelineConfig.model_validate(pipeline).model_dump(mode="json")
    except ValidationError:
        pass
    out: dict[str, Any] = {}
    for key, value in pipeline.items():
        if key not in ("train", "description"):  # train: its algorithm part is in the fields below
            out.update(_flatten(value, key))
    defaults = GRPOSettings().model_dump()  # a setting added since the checkpoint was written compares as its default
    for name in _RESTORED_FIELDS:
        out.update(_flatten(state.get(name, defaults.get(name)), _YAML_NAMES.get(name, f"train.{name}")))
    return out


def resume_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every restored setting (:func:`restored_settings`) that differs between two
    algorithm config states.

    >>> resume_changes({"lr": 1e-4, "group_size": 8}, {"lr": 2e-4, "group_size": 8})
    ['train.lr: 0.0001 -> 0.0002']
    """
    old, new = restored_settings(recorded), restored_settings(current)
    missing = object()

    def show(value: Any) -> str:
        return "(not set)" if value is missing else repr(value)

    keys = list(dict.fromkeys([*old, *new]))
    return [f"{key}: {show(old.get(key, missing))} -> {show(new.get(key, missing))}"
            for key in keys if old.get(key, missing) != new.get(key, missing)]


def resume_config(config: PipelineConfig, section: TrainSection, checkpoint: Path, run_dir: Path,
                  log: Log | None = None) -> PipelineConfig:
    """The pipeline a resumed run continues with: ``config`` if it trains as the checkpoint does, else ConfigError
    naming each changed setting (old -> new) and what to do.

    The recorded settings come from the checkpoint (:func:`orchestration.grpo.checkpoint.algorithm_config`), or if
    that cannot be read from the run's ``config.yaml``. A run started with ``--sft-first`` recorded the cold start's
    policies as its agents' models; resuming it without the flag continues with those (the pipeline is returned with
    them, as :func:`use_sft_policies` gives it).
    """
    from orchestration.grpo.checkpoint import algorithm_config

    recorded, source = algorithm_config(checkpoint), f"checkpoint {checkpoint.name}"
    if recorded is None:
        try:
            saved = PipelineConfig.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
            recorded, source = build_grpo_config(saved, train_section(saved)).get_state(), str(run_dir / "config.yaml")
        except (OSError, yaml.YAMLError, ValidationError, ConfigError) as err:
            _warn(log, f"cannot tell which settings {run_dir} was trained with (neither "
                  f"{checkpoint}/rllib/class_and_ctor_args.pkl nor config.yaml is readable: {err}); resuming without "
                  "checking them")
            return config
    changes = resume_changes(recorded, build_grpo_config(config, section).get_state())
    if changes and section.sft.roles:
        cold_start = use_sft_policies(config, section)
        cold_changes = resume_changes(recorded, build_grpo_config(cold_start, section).get_state())
        if not cold_changes:
            return cold_start
        changes = min(changes, cold_changes, key=len)
    if changes:
        raise ConfigError(
            f"--resume: these settings differ from the ones {run_dir} was trained with ({source}):\n  "
            + "\n  ".join(changes)
            + "\nA resumed run restores its checkpoint's settings, so training would ignore these while config.yaml and "
            "the held-out evaluation used them. Resume without them (drop the --set, or pass --config "
            f"{run_dir / 'config.yaml'}), or train with them in a new run (--run-dir NEW_FOLDER, or --overwrite to start "
            f"{run_dir} afresh). A resumed run may change only --iterations, --time-budget, --eval-tasks and train."
            + ", train.".join(_RUN_SETTINGS) + ".")
    return config


def read_eval(run_dir: Path, log: Log | None = None) -> dict[str, Any]:
    """``eval.json`` of a run folder, or {} if there is none.

    One that does not parse (written in place by an older version and cut off by a kill, or damaged on disk) is moved
    aside to ``eval.json.corrupt`` with a warning, and the run starts its held-out records afresh: the starting
    policies are judged again, which costs an evaluation but loses no training.
    """
    path = run_dir / "eval.json"
    if not path.is_file():
        return {}
    try:
        rows = json.loads(path.read_text())
        if not isinstance(rows, dict):
            raise ValueError(f"a JSON {type(rows).__name__}, not an object")
    except (ValueError, UnicodeDecodeError) as err:
        aside = path.with_name("eval.json.corrupt")
        os.replace(path, aside)
        _warn(log, f"{path} is not readable ({err}); moved it to {aside}; the held-out evaluation starts afresh "
                   "(the starting policies are judged again)")
        return {}
    return rows


def check_eval_tasks(eval_rows: dict[str, Any], tasks: Sequence[Any], section: TrainSection, run_dir: Path) -> None:
    """Refuse held-out tasks other than the ones eval.json's "before" was judged on: the before/after table and the
    held-out curve pair scores task by task, so --eval-tasks or train.eval_seed may change on resume only while no
    "before" is recorded (or to 0, which skips the evaluation)."""
    if not tasks or "before" not in eval_rows:
        return
    judged = [row.get("task_id") for row in eval_rows.get("before_rows") or []]
    same = judged == [task.task_id for task in tasks] if judged else eval_rows["before"].get("episodes") == len(tasks)
    if not same:
        n = len(judged) or eval_rows["before"].get("episodes")
        raise ConfigError(
            f"{run_dir / 'eval.json'} holds a before-training evaluation on {n} other held-out tasks than these "
            f"{len(tasks)} (train.eval_tasks {section.eval_tasks}, train.eval_seed {section.eval_seed}): a before/after "
            "comparison needs the same tasks. Keep the run's --eval-tasks and train.eval_seed, pass --eval-tasks 0 to "
            "skip the evaluation, or start a new run (--run-dir NEW_FOLDER, or --overwrite).")


def format_curve(before: dict[str, Any], curve: list[dict[str, Any]]) -> str:
    """The held-out curve (``train.eval_every``) as a markdown table: iteration, GRPO seconds, F1, full success.

    >>> print(format_curve({"f1_overall": 0.9, "full_success": 0.5}, [{"iteration": 50, "grpo_s": 160.2, "f1_overall": 0.91, "full_success": 0.52}]))
    | held-out curve: iteration | GRPO s | F1 overall | full success |
    |---:|---:|---:|---:|
    | 0 | 0 | 0.900 | 0.500 |
    | 50 | 160 | 0.910 | 0.520 |
    >>> print(format_curve({"f1_overall": None, "full_success": 0.5}, []).splitlines()[-1])
    | 0 | 0 | - | 0.500 |
    """
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"  # a pipeline without a decomposer has no F1

    lines = ["| held-out curve: iteration | GRPO s | F1 overall | full success |", "|---:|---:|---:|---:|"]
    for point in [{"iteration": 0, "grpo_s": 0.0, **before}, *curve]:
        lines.append(f"| {point['iteration']} | {point['grpo_s']:.0f} | {cell(point['f1_overall'])} | {cell(point['full_success'])} |")
    return "\n".join(lines)


def clear_run_dir(run_dir: str | Path) -> None:
    """Delete what a previous run wrote in ``run_dir`` (only the files a run writes; anything else is kept)."""
    import shutil

    run_dir = Path(run_dir)
    for name in ("checkpoints", "tb"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("metrics.parquet", "metrics.journal.jsonl", "rollouts.parquet", "rollouts.journal.jsonl", "eval.json",
                 "eval.json.corrupt", "eval.md", "summary.json", "config.yaml", TRACKERS_FILE):
        (run_dir / name).unlink(missing_ok=True)


def train_command(args: argparse.Namespace) -> int:
    """`editrl train` / `python -m orchestration.train`."""
    config = load_config(args.config, args.overrides)
    section = train_section(config)
    updates: dict[str, Any] = {}
    if args.iterations is not None:
        updates["iterations"] = args.iterations
    if args.time_budget is not None:
        updates["time_budget_s"] = args.time_budget
    if args.eval_tasks is not None:
        updates["eval_tasks"] = args.eval_tasks
    section = TrainSection.model_validate({**section.model_dump(), **updates})
    run_dir = args.run_dir or section.run_dir or f"runs/{config.name}"
    if args.overwrite and args.resume:
        raise ConfigError("--overwrite and --resume contradict each other; pick one")
    if args.sft_first and args.resume:
        raise ConfigError("--sft-first would replace the policies a resumed run started from; drop one of --sft-first / --resume")
    logger.debug(f"config {config.name}, run folder {run_dir}, train section {section.model_dump(exclude_defaults=True)}")
    t0 = time.perf_counter()
    # the lock before --overwrite deletes anything: the folder may be another run's
    with run_folder_lock(run_dir, logger.warning), library_progress_bars(logger):
        if args.overwrite:
            clear_run_dir(run_dir)
        if args.sft_first:
            config = use_sft_policies(config, section)
            build_grpo_config(config, section).validate()  # config errors now, not after minutes of SFT
            check_trackers(section)
            run_sft(config, section)
        summary = run_training(config, section, run_dir=run_dir, resume=args.resume, progress=progress_enabled(logger))
    if "eval" in summary:  # the before/after table: the result the run was for, so stdout at any verbosity
        print((Path(summary["run_dir"]) / "eval.md").read_text(), end="", flush=True)
    logger.info(f"done in {time.perf_counter() - t0:.0f} s; outputs in {summary['run_dir']}")
    return 0


def sft_command(args: argparse.Namespace) -> int:
    """`editrl sft`."""
    config = load_config(args.config, args.overrides)
    section = train_section(config)
    sft = section.sft.model_dump()
    if args.out is not None:
        sft["out_dir"] = args.out
    if args.steps is not None:
        sft["steps"] = args.steps
    section = TrainSection.model_validate({**section.model_dump(), "sft": sft})
    with library_progress_bars(logger):
        report = run_sft(config, section)
    print(json.dumps({role: {k: v for k, v in entry.items() if k != "path"} | {"path": entry["path"]}
                      for role, entry in report["roles"].items()}, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orchestration.train ARGS`` is ``editrl train ARGS``: the same parser, flags (``--verbose``,
    ``--quiet``, ``--debug``), logging and ``editrl: error: ...`` lines, so a job log reads the same either way."""
    from orchestration.cli import main as editrl

    return editrl(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
