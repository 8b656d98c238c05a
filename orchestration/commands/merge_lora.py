"""`editrl merge-lora ADAPTER OUT`: a LoRA run's trained adapter merged into its base model, for serving."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestration.logs import get_logger

logger = get_logger("merge_lora")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge-lora", help="merge a LoRA adapter from a GRPO checkpoint into its base model",
                       description="Write base model + adapter as one Hugging Face model folder (safetensors and the "
                                   "tokenizer or processor the policy was trained with), which every agent backend and "
                                   "`editrl serve` load like any other model.")
    p.add_argument("adapter", type=Path, help="policies/<agent>/ of a checkpoint trained with train.agents.<agent>.lora")
    p.add_argument("out", type=Path, help="folder to write the merged model to")
    p.add_argument("--base", default=None, help="the base model's path or hub name, when it is no longer where "
                                                "adapter_config.json's base_model_name_or_path says")
    p.set_defaults(handler=merge)


def merge(args: argparse.Namespace) -> int:
    from orchestration.grpo.lora import merge_adapter

    logger.info("merging %s into its base model", args.adapter)
    out = merge_adapter(args.adapter, args.out, base=args.base)
    print(json.dumps({"merged": str(out)}))
    return 0
