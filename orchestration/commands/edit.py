"""`editrl edit IMAGE "INSTRUCTION" --config CFG --out OUT.png [--json]` and `editrl eval ...`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from orchestration.logs import get_logger, progress_bar_wanted

MAX_INSTRUCTION_CHARS = 2000
logger = get_logger("eval")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="pipeline YAML path or packaged name (canvas_rule, editor_only, ...)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set editor.options.mode=multi_turn (repeatable)")


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("edit", help="edit one image with a pipeline")
    e.add_argument("image", type=Path, help="image to edit")
    e.add_argument("instruction", help="what to change, in words")
    _add_config_args(e)
    e.add_argument("--out", type=Path, required=True, help="where to write the edited PNG")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    e.add_argument("--ray", action="store_true", help="run the agents as Ray actors (default: in-process)")
    e.set_defaults(handler=edit)

    v = sub.add_parser("eval", help="evaluate a pipeline on a dataset")
    _add_config_args(v)
    v.add_argument("--data", type=Path, required=True,
                   help="tasks: a Canvas .parquet, a generic .jsonl/.parquet, a KRIS-Bench or a RISEBench folder")
    v.add_argument("--data-kind", default="auto", choices=["auto", "canvas", "generic", "kris", "rise"],
                   help="dataset format (default: detected from --data)")
    v.add_argument("--limit", type=int, default=None, help="first N tasks only")
    v.add_argument("--workers", type=int, default=2, help="episodes in flight at once")
    v.add_argument("--out", type=Path, required=True,
                   help="per-episode results (.parquet), with full traces; written as episodes finish, so an "
                        "interrupted run (Ctrl-C) keeps the finished ones")
    v.add_argument("--resume", action="store_true",
                   help="keep the results already in --out and run only the tasks it lacks (same --config and --set)")
    v.add_argument("--json", action="store_true", help="print the summary as JSON")
    v.add_argument("--no-ray", dest="ray", action="store_false", help="run agents in-process instead of as Ray actors")
    v.set_defaults(handler=evaluate)


def edit(args: argparse.Namespace) -> int:
    from agents.base import EpisodeState
    from envs.image_io import encode_png, load_image
    from orchestration.cli import CLIError
    from orchestration.config import load_config
    from orchestration.evaluate import make_pipeline
    from orchestration.understanding import NOT_UNDERSTOOD, edit_understood, reported_score

    instruction = args.instruction.strip()
    if not instruction:
        raise CLIError("the instruction is empty; say what to change, e.g. \"make the red circle blue\"")
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise CLIError(f"the instruction has {len(instruction)} characters; keep it under {MAX_INSTRUCTION_CHARS}")
    config = load_config(args.config, args.overrides)
    image = load_image(args.image)
    pipeline = make_pipeline(config, use_ray=args.ray)
    state = EpisodeState(task_id=f"edit-{int(time.time())}", instruction=instruction, source_png=encode_png(image))
    result = pipeline.run(state)
    if not result.ok:
        raise CLIError(f"the pipeline failed: {result.error}")
    final = result.state
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if final.edit is None:
        raise CLIError(f"pipeline {config.name!r} has no editor, so there is no image to write")
    args.out.write_bytes(final.edit.image_png)
    understood = edit_understood(final)
    report = {
        "plan": final.plan.text if final.plan else None,
        "components": [c.model_dump() for c in final.decomposition.components] if final.decomposition else None,
        "subrequests": final.subrequests.items if final.subrequests else None,
        "checklist": [{"question": i.question, "answer": i.answer, "reason": i.reason} for i in final.verdict.items] if final.verdict else [],
        "score": reported_score(final),
        "understood": understood,
        "message": None if understood else NOT_UNDERSTOOD,
        "rounds": final.round + 1,
        "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
        "output": str(args.out),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"plan        : {report['plan'] or '-'}")
    for c in report["components"] or []:
        print(f"component   : {c['action']} | {', '.join(c['subject'])} | {', '.join(c['target']) or '-'}")
    for i, s in enumerate(report["subrequests"] or []):
        print(f"subrequest {i}: {s}")
    for item in report["checklist"]:
        print(f"  [{item['answer']:>7}] {item['question']}" + (f" ({item['reason']})" if item.get("reason") else ""))
    print(f"score       : {report['score'] if report['score'] is not None else '-'}   rounds: {report['rounds']}")
    if report["message"]:
        print(f"note        : {report['message']}")
    print("timings ms  : " + ", ".join(f"{k} {v}" for k, v in report["timings_ms"].items()))
    print(f"wrote {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from contextlib import closing

    from tqdm import tqdm

    from envs.datasets import load_tasks
    from orchestration.cli import CLIError
    from orchestration.config import check_model_paths, load_config
    from orchestration.eval_results import ResultsFile, pipeline_fingerprint
    from orchestration.evaluate import format_table, iter_episodes, make_pipeline, summarize, unreadable_row

    if args.out.suffix != ".parquet":
        raise CLIError(f"--out must end in .parquet, got {args.out}")
    config = load_config(args.config, args.overrides)
    bad_rows: list = []  # rows with a missing field or an unreadable image: recorded as failed, the rest evaluated
    tasks = load_tasks(args.data, kind=args.data_kind, limit=args.limit, bad_rows=bad_rows)
    for bad in bad_rows:
        logger.warning(f"recorded as failed: {bad.error}")
    if not tasks and not bad_rows:
        raise CLIError(f"{args.data} holds no tasks")
    check_model_paths(config)  # before an earlier --out is removed for this run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(args.out, pipeline_fingerprint(config), resume=args.resume)
    total = len(tasks) + len(bad_rows)
    todo = [t for t in tasks if t.task_id not in results.done]
    if args.resume:
        already = total - len(todo) - sum(b.where not in results.done for b in bad_rows)
        logger.info(f"resuming: {already} of {total} tasks already in {args.out}")
    try:
        for bad in bad_rows:
            if bad.where not in results.done:
                results.append(unreadable_row(bad.where, bad.error))
        if todo:
            pipeline = make_pipeline(config, use_ray=args.ray)
            logger.info(f"evaluating {config.name} on {len(todo)} tasks ({args.workers} at a time) -> {args.out}")
            bar = tqdm(total=total, initial=total - len(todo), desc=f"eval {config.name}", unit="episode",
                       disable=args.json or not progress_bar_wanted(logger))
            # closing: an interrupt anywhere in this loop starts no further episode
            with bar, closing(iter_episodes(pipeline, todo, args.workers)) as finished:
                for _, row in finished:
                    results.append(row)
                    bar.update(1)
    except KeyboardInterrupt:
        kept = results.close()
        logger.warning(f"interrupted; {kept} of {total} episodes are in {args.out}; run the same command with "
                       "--resume to finish the rest")
        return 130
    results.close()
    rows = results.read()
    summary = summarize(rows)
    summary["config"] = config.name
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_table(summary))
        print(f"wrote {len(rows)} episodes to {args.out}")
    return 0
