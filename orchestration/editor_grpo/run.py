"""An editor-GRPO run in a folder: its config file, tasks, held-out evaluation, checkpoints and resume.

``editrl train-editor --config FILE --run-dir DIR`` (:mod:`orchestration.commands.train_editor`) calls
:func:`run_editor_training`. The folder holds::

    config.json                 the validated run config (a resume must bring the same one)
    metrics.jsonl               one line per iteration: the trainer's metrics, and eval_reward where evaluated
    tb/                         the same as TensorBoard scalars (editor_grpo/*, eval/reward_mean)
    checkpoints/iter_NNNNNN/    learners/ (RLlib's LearnerGroup checkpoint: adapter and optimizer state),
                                adapter.safetensors (the adapter, to check a restore against) and trainer.json
                                (iteration, adapter version, the step-subset generator's state)
    adapter/                    the final adapter (diffusers' save_lora_adapter; DiffusersEditor(lora=...) loads it)
    model/                      the tiny pipeline, when ``editor.model`` is ``tiny:pix2pix`` or ``tiny:kontext``

Sampling seeds follow from the seed and the iteration, so a run resumed from a checkpoint continues as the
uninterrupted run would (tested). Evaluation samples one group per held-out task with seeds never used in training
and reports the mean reward.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestration.editor_grpo.config import EditorGRPOConfig

__all__ = ["CanvasTasks", "EditorRunConfig", "TaskSource", "load_tasks", "run_editor_training"]

#: ``editor.model`` values that build a tiny pipeline from configs into the run folder (nothing downloaded).
TINY_MODELS = ("tiny:pix2pix", "tiny:kontext")

#: Evaluation seeds start here: beyond any training seed (seed * 1_000_003 + iteration * 1009 + group).
EVAL_SEED = 1 << 62

#: A checkpoint's files, written last to first complete: a folder without them is not one.
CHECKPOINT_FILES = ("trainer.json", "adapter.safetensors")


class CanvasTasks(BaseModel):
    """Generated Canvas tasks (``envs.canvas.generator.generate_tasks``), rewarded with the Canvas verifier's answers
    to each task's reference checklist on the edited image (``verified_edit``)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, description="How many tasks.")
    seed: int = Field(default=0, description="Generator seed.")
    split: Literal["train", "test"] = Field(default="train", description="Generator split (wording held out in test).")


class TaskSource(BaseModel):
    """Where tasks come from: exactly one of ``canvas`` and ``file``."""

    model_config = ConfigDict(extra="forbid")

    canvas: CanvasTasks | None = Field(default=None, description="Generated Canvas tasks.")
    file: str | None = Field(default=None, description=(
        "A JSON-lines file, one {\"prompt\": ..., \"image\": PATH} per line (PATH relative to the file); rewarded "
        "only by rewards that read the images alone (colour_share; preservation and verified_edit need Canvas "
        "tasks)."))

    @model_validator(mode="after")
    def _one(self) -> "TaskSource":
        if (self.canvas is None) == (self.file is None):
            raise ValueError("give exactly one of canvas: {count, seed, split} and file: PATH")
        return self


class EditorRunConfig(BaseModel):
    """The config file of ``editrl train-editor``."""

    model_config = ConfigDict(extra="forbid")

    editor: EditorGRPOConfig = Field(description=(
        "The trainer's settings (orchestration/editor_grpo/config.py); model may be tiny:pix2pix or tiny:kontext."))
    tasks: TaskSource = Field(description="Training tasks, drawn groups_per_iteration at a time, in turn.")
    eval_tasks: TaskSource | None = Field(default=None, description="Held-out tasks for the evaluation reward.")
    eval_every: int = Field(default=5, ge=1, description="Evaluate before training and every this many iterations.")
    checkpoint_every: int = Field(default=5, ge=1, description="Checkpoint every this many iterations (and at the end).")
    keep_checkpoints: int = Field(default=2, ge=1, description="Newest checkpoints kept; older ones are deleted.")

    @model_validator(mode="after")
    def _model_given(self) -> "EditorRunConfig":
        if self.editor.model.startswith("tiny:") and self.editor.model not in TINY_MODELS:
            raise ValueError(f"editor.model {self.editor.model!r}: the tiny pipelines are {', '.join(TINY_MODELS)}")
        return self


def load_tasks(source: TaskSource, *, base: Path | None = None) -> list[Any]:
    """The :class:`~orchestration.editor_grpo.rewards.EditorTask` list of ``source``."""
    from orchestration.editor_grpo.rewards import EditorTask, canvas_editor_task

    if source.canvas is not None:
        from envs.canvas.generator import generate_tasks

        spec = source.canvas
        return [canvas_editor_task(t) for t in generate_tasks(spec.count, seed=spec.seed, split=spec.split)]
    from PIL import Image

    path = Path(source.file)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise ValueError(f"tasks file {path} does not exist")
    from envs.datasets.generic import jsonl_rows

    tasks = []
    for where, row in jsonl_rows(path):
        try:
            image = path.parent / row["image"]
            tasks.append(EditorTask(prompt=str(row["prompt"]), image=Image.open(image).convert("RGB")))
        except (KeyError, TypeError, OSError) as err:
            raise ValueError(f"{where}: expected {{\"prompt\": ..., \"image\": PATH}} with a readable image "
                             f"({err})") from err
    if not tasks:
        raise ValueError(f"tasks file {path} holds no task")
    return tasks


def _resolve_model(config: EditorRunConfig, run_dir: Path) -> EditorGRPOConfig:
    """The trainer's config, with a tiny pipeline built into ``run_dir/model`` when the model names one."""
    editor = config.editor
    if editor.model not in TINY_MODELS:
        return editor
    from diffusers.utils import logging as diffusers_logging

    # The tiny pipelines' text encoders read 16 tokens: every longer request would print a truncation warning.
    diffusers_logging.set_verbosity_error()
    target = run_dir / "model"
    if not (target / "model_index.json").is_file():
        if editor.model == "tiny:pix2pix":
            from agents.diffusers_editor import save_tiny_instruct_pix2pix as build
        else:
            from agents.diffusion.tiny import save_tiny_flux_kontext as build
        build(target)
    return editor.model_copy(update={"model": str(target)})


def _complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in CHECKPOINT_FILES) and (folder / "learners").is_dir()


def _latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted(p for p in (run_dir / "checkpoints").glob("iter_*") if _complete(p))
    return found[-1] if found else None


def save_checkpoint(trainer: Any, run_dir: Path, keep: int) -> Path:
    """``checkpoints/iter_NNNNNN``: written under a temporary name, renamed into place when complete; then only the
    newest ``keep`` complete checkpoints up to this one stay (a later-numbered folder is from a run replaced by this
    resume)."""
    from safetensors.torch import save_file

    from orchestration.run_folder import TMP_PREFIX, fsync_tree, remove_paths, temporary_name

    folder = run_dir / "checkpoints" / f"iter_{trainer.iteration:06d}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_paths(folder.parent.glob(f"{TMP_PREFIX}iter_*"))  # what a killed writer left (the run lock is held)
    tmp = temporary_name(folder)
    trainer.learner_group.save_to_path(str((tmp / "learners").resolve()))
    save_file(trainer.adapter_state(), str(tmp / "adapter.safetensors"))
    state = {"iteration": trainer.iteration, "version": trainer.version,
             "step_generator": trainer.step_generator.get_state().tolist()}
    (tmp / "trainer.json").write_text(json.dumps(state))
    fsync_tree(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    done = sorted(p for p in folder.parent.glob("iter_*") if _complete(p) and p.name <= folder.name)
    stale = [p for p in folder.parent.glob("iter_*") if p.name > folder.name or not _complete(p)]
    remove_paths(done[:-keep] + stale)
    return folder


def restore_checkpoint(trainer: Any, folder: Path) -> None:
    """Put the checkpoint's adapter and optimizer state into every learner, and the trainer's counters back; every
    learner's adapter is checked against the checkpoint's (RLlib skips a missing component and only logs a learner
    actor that failed to restore)."""
    from safetensors.torch import load_file

    from orchestration.editor_grpo.module import EDITOR_MODULE

    state = json.loads((folder / "trainer.json").read_text())
    trainer.learner_group.restore_from_path(str((folder / "learners").resolve()))
    expected = load_file(str(folder / "adapter.safetensors"))
    for result in trainer.learner_group.foreach_learner(
            lambda learner: learner.module[EDITOR_MODULE].unwrapped().adapter_state()):
        held = result.get() if result.ok else None
        if held is None or held.keys() != expected.keys() or any(not torch.equal(held[k], expected[k]) for k in held):
            raise RuntimeError(f"a learner did not restore the adapter of {folder}: start the run again, or delete "
                               "that checkpoint to resume from the one before")
    trainer.iteration, trainer.version = int(state["iteration"]), int(state["version"])
    trainer.step_generator.set_state(torch.tensor(state["step_generator"], dtype=torch.uint8))
    trainer._synced = -1  # whatever samples outside the learners takes the restored adapter first


def run_editor_training(config: EditorRunConfig, run_dir: str | Path, *, resume: bool = False,
                        config_dir: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Train, evaluate and checkpoint in ``run_dir`` (module docstring); returns the run's summary."""
    from orchestration.editor_grpo.trainer import EditorGRPOTrainer
    from orchestration.run_folder import run_folder_lock, write_text_atomic

    run_dir = Path(run_dir)
    with run_folder_lock(run_dir, log=log):
        saved = run_dir / "config.json"
        wanted = config.model_dump(mode="json")
        if saved.is_file():
            if not resume:
                raise ValueError(f"{run_dir} already holds a run: pass --resume to continue it, or pick another "
                                 "--run-dir")
            if json.loads(saved.read_text()) != wanted:
                raise ValueError(f"{run_dir} was started with another config ({saved}); resume with that one")
        elif resume:
            raise ValueError(f"{run_dir} holds no run to resume (no config.json); drop --resume to start one")
        tasks = load_tasks(config.tasks, base=config_dir)
        eval_tasks = load_tasks(config.eval_tasks, base=config_dir) if config.eval_tasks else []
        editor = _resolve_model(config, run_dir)
        _check_rewards(editor, tasks[:1] + eval_tasks[:1])
        trainer = EditorGRPOTrainer(editor)
        try:
            # The folder is claimed only once the tasks, rewards and model have loaded: a bad config leaves it free.
            write_text_atomic(saved, json.dumps(wanted, indent=1))
            return _train(trainer, config, run_dir, tasks, eval_tasks, resume, log)
        finally:
            trainer.close()


def _check_rewards(editor: EditorGRPOConfig, tasks: list[Any]) -> None:
    """Score each task's unedited source once: a reward the tasks cannot feed fails here, with what to change."""
    from orchestration.editor_grpo.rewards import score_image

    for task in tasks:
        try:
            score_image(task, task.image, editor)
        except ValueError as err:
            raise ValueError(f"editor.rewards {[t.name for t in editor.rewards]} cannot score these tasks ({err}); "
                             "file tasks carry only their images: use colour_share, or Canvas tasks") from None


def _train(trainer: Any, config: EditorRunConfig, run_dir: Path, tasks: list[Any], eval_tasks: list[Any],
           resume: bool, log: Any) -> dict[str, Any]:
    from tensorboardX import SummaryWriter

    latest = _latest_checkpoint(run_dir) if resume else None
    if latest is not None:
        restore_checkpoint(trainer, latest)
        log(f"resumed from {latest.name}")
    metrics_path = run_dir / "metrics.jsonl"
    # Lines past the checkpoint were written by iterations that run again; a line cut short by a crash is dropped.
    kept = [row for row in _read_rows(metrics_path) if row["iteration"] <= trainer.iteration] if latest else []
    metrics_path.write_text("".join(json.dumps(row) + "\n" for row in kept))
    writer = SummaryWriter(str(run_dir / "tb"), purge_step=trainer.iteration + 1 if latest is not None else 0)
    cfg, per = config.editor, config.editor.groups_per_iteration
    evals = [(row["iteration"], row["eval_reward"]) for row in kept if "eval_reward" in row]
    try:
        if eval_tasks and latest is None:
            evals.append((0, trainer.evaluate(eval_tasks, EVAL_SEED)))
            _record(metrics_path, writer, {"iteration": 0, "eval_reward": evals[-1][1]})
        while trainer.iteration < cfg.iterations:
            it = trainer.iteration
            metrics = trainer.run_iteration([tasks[(it * per + k) % len(tasks)] for k in range(per)])
            row: dict[str, Any] = {"iteration": trainer.iteration, **metrics}
            if eval_tasks and (trainer.iteration % config.eval_every == 0 or trainer.iteration == cfg.iterations):
                row["eval_reward"] = trainer.evaluate(eval_tasks, EVAL_SEED)
                evals.append((trainer.iteration, row["eval_reward"]))
            _record(metrics_path, writer, row)
            log(f"iteration {trainer.iteration}: reward {metrics['reward_mean']:.4f}"
                + (f", eval {row['eval_reward']:.4f}" if "eval_reward" in row else ""))
            if trainer.iteration % config.checkpoint_every == 0 or trainer.iteration == cfg.iterations:
                save_checkpoint(trainer, run_dir, config.keep_checkpoints)
    finally:
        writer.close()
    adapter = trainer.save_adapter(run_dir / "adapter")
    return {"run_dir": str(run_dir), "iterations": trainer.iteration, "adapter": str(adapter), "eval": evals}


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("iteration"), int):
            rows.append(row)
    return rows


def _record(path: Path, writer: Any, row: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    for key, value in row.items():
        if key != "iteration":
            writer.add_scalar("eval/reward_mean" if key == "eval_reward" else f"editor_grpo/{key}", value,
                              row["iteration"])
