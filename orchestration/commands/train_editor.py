"""`editrl train-editor --config FILE --run-dir DIR`: GRPO of a diffusers editing pipeline's LoRA adapters
(:mod:`orchestration.editor_grpo.run`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestration.logs import get_logger

logger = get_logger("train_editor")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-editor", help="train a diffusers editor's LoRA adapters with GRPO on image rewards",
                       description="GRPO of a diffusers editing pipeline (InstructPix2Pix or FLUX.1-Kontext) with LoRA "
                                   "adapters on its denoiser, updated by RLlib's learners; see docs/editor_grpo.md. The "
                                   "config file has editor: (the trainer's settings), tasks:, eval_tasks:, eval_every, "
                                   "checkpoint_every (orchestration/editor_grpo/run.py).")
    p.add_argument("--config", type=Path, required=True, help="the run's YAML file (e.g. configs/editor/tiny_kontext.yaml)")
    p.add_argument("--run-dir", type=Path, required=True, help="folder for metrics, TensorBoard, checkpoints, the adapter")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its newest checkpoint")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set editor.iterations=20 (repeatable)")
    p.set_defaults(handler=train_editor)


def load_run_config(path: Path, overrides: list[str]):
    """The validated run config of ``path`` with ``overrides`` applied; a bad file or key is one clear error."""
    import yaml
    from pydantic import ValidationError

    from orchestration.config import apply_overrides, validation_messages
    from orchestration.editor_grpo.run import EditorRunConfig

    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with editor:, tasks: and the run's settings")
    try:
        return EditorRunConfig.model_validate(apply_overrides(data, overrides))
    except ValidationError as err:
        raise ValueError(f"{path}: " + "; ".join(validation_messages(err, EditorRunConfig))) from None


def train_editor(args: argparse.Namespace) -> int:
    from orchestration.editor_grpo.run import run_editor_training

    config = load_run_config(args.config, args.overrides)
    logger.info("editor GRPO of %s in %s", config.editor.model, args.run_dir)
    summary = run_editor_training(config, args.run_dir, resume=args.resume, config_dir=args.config.parent,
                                  log=logger.info)
    print(json.dumps(summary))
    return 0
