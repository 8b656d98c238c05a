"""GRPO step throughput: this project's GRPO (RLlib learner + Ray policy actor) vs TRL's ``GRPOTrainer``, side by
side in one run, plus the time split of one of our iterations and the share of it spent in model forward/backward.

    python benchmarks/grpo_vs_trl.py [--tasks 16] [--group 8] [--max-new-tokens 48] [--iters 6] [--rounds 2]
                                     [--threads 2] [--async] [--json OUT]

Both sides get the same things: the same tiny causal LM (the default ~0.9M-parameter Llama of
``agents.lm.model.tiny_causal_lm_config``, untrained, built from a config on a tokenizer trained here), the same
prompts (the decomposer's prompts for the same generated train tasks), the same group size, batch
(``tasks * group`` completions per optimiser step, one step per batch, one epoch), max new tokens, temperature 1,
top-p 1, no KL term (no reference model), clip 0.2 / 0.28, AdamW at the same learning rate, the same number of
torch threads, and the same reward: a plain function of the completion text (the share of the letter ``e``),
registered as ``bench_e`` for our side and passed as a callable to TRL. Our graph is the decomposer alone
(``graph.nodes=[decomposer]``), so no editor or verifier runs and the reward is the same work on both sides.

``--async`` adds our asynchronous GRPO (``train.max_staleness: 1``: the policy actor samples batch k+1 while the
learner updates on batch k) as a third side, with the cores split between sampler and learner.

The sides alternate (``--rounds`` times ours then TRL's) so that a change in machine load hits both; each round
discards its first ``--warmup`` steps. TRL is an optional dependency: ``pip install -e ".[bench]" -c
benchmarks/constraints.txt``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _tiny_policy import build_policy  # noqa: E402
from rewards import RewardContext, register_reward  # noqa: E402


def share_of_e(text: str) -> float:
    """The toy reward of both sides: the share of the letter 'e' in the completion."""
    return text.count("e") / (len(text) + 1)


@register_reward("bench_e", overwrite=True)
def bench_e(ctx: RewardContext) -> float:
    return share_of_e(ctx.completion or "")


def bench_prompts(policy: Path, n_tasks: int, seed: int) -> list:
    """The decomposer prompts of the first ``n_tasks`` generated train tasks (what our TaskPool draws from)."""
    from agents.lm.policy import LMDecomposer
    from envs.canvas.generator import generate_tasks
    from envs.editing_env import task_to_state

    agent = LMDecomposer(str(policy))
    return [agent.prompt(task_to_state(t)) for t in generate_tasks(n_tasks, seed=seed, split="train")]


def pipeline_config(policy: Path, args, full_graph: bool = False, max_staleness: int = 0):
    """The benchmark's pipeline: the decomposer alone with the toy reward, or (``full_graph``) ImageEdit-R1's whole
    graph (decomposer -> sorter -> Canvas editor -> Canvas verifier) with its own format + F1 reward."""
    from orchestration.config import load_config

    threads = args.async_sampler_threads if max_staleness else args.threads
    train = {"group_size": args.group, "tasks_per_iteration": args.tasks, "max_new_tokens": args.max_new_tokens,
             "train_tasks": args.pool, "data_seed": args.data_seed, "lr": args.lr, "sampler_threads": threads,
             "max_staleness": max_staleness,
             "rollout_samples": 0, "seed": 0, "temperature": 1.0, "top_p": 1.0, "kl_coef": 0.0,
             "clip_low": 0.2, "clip_high": 0.28, "loss_agg": "token-mean"}
    sets = [f"agents.decomposer.model={policy}"]
    if not full_graph:
        sets += ["graph.nodes=[decomposer]", "rewards.decomposer=[{name: bench_e, weight: 1.0}]"]
    sets += [f"train.{k}={v}" for k, v in train.items()]
    return load_config("imageedit_r1", sets)


def run_split(policy: Path, args, perception_cache: bool = True) -> dict:
    """The time split of our iteration on the whole ImageEdit-R1 graph (the editor and verifier finish every
    episode before it is scored): mean seconds per part over ``--iters`` iterations after the warm-up.

    ``perception_cache=False`` is the driver as it was before ``agents.canvas_paint.perceive_png`` remembered
    perceptions (the verifier and the metrics' judge each perceived every image): the episodes are finished and
    judged in this process, so emptying the cache here switches it (the policy actor's prompts keep theirs)."""
    from agents import canvas_paint
    from orchestration.grpo.config import build_grpo_config

    size = canvas_paint.PERCEPTION_CACHE_SIZE
    canvas_paint._PERCEPTIONS.clear()
    if not perception_cache:
        canvas_paint.PERCEPTION_CACHE_SIZE = 0
    algo = build_grpo_config(pipeline_config(policy, args, full_graph=True)).build_algo()
    try:
        for _ in range(args.warmup):
            algo.train()
        splits = []
        for _ in range(args.iters):
            algo.train()
            splits.append({k: algo.last_metrics[k] for k in ("generate_s", "reward_s", "update_s", "sync_s", "step_s")})
        return {k: float(np.mean([s[k] for s in splits])) for k in splits[0]}
    finally:
        algo.stop()
        canvas_paint.PERCEPTION_CACHE_SIZE = size


def print_split(title: str, sp: dict) -> None:
    step = sp["step_s"]
    print(f"\n| {title} | seconds | share |")
    print("|---|---|---|")
    for key, label in (("generate_s", "generate"), ("reward_s", "reward (finish episodes + score)"), ("update_s", "update"),
                       ("sync_s", "weight sync")):
        print(f"| {label} | {sp[key]:.3f} | {sp[key] / step:.0%} |")
    other = step - sum(sp[k] for k in ("generate_s", "reward_s", "update_s", "sync_s"))
    print(f"| other (task draw, advantages, metrics) | {other:.3f} | {other / step:.0%} |")
    print(f"| whole iteration | {step:.3f} | 100% |")


def run_ours(policy: Path, args, profile: bool = False, share_prompts: bool = True, max_staleness: int = 0) -> dict:
    """K timed GRPO iterations after the warm-up ones; with ``profile`` one more iteration under cProfile.

    ``share_prompts=False`` is the learner as it was before the shared-prompt forward (one pass over prompt +
    completion for every row): the learner is local (``num_learners=0``), so patching the module function in this
    process switches it. ``max_staleness=1`` is asynchronous GRPO: the policy actor samples the next batch while
    this process updates, so each side gets its own share of the cores (``--async-sampler-threads``,
    ``--async-learner-threads``) instead of both using all of them in turn."""
    import orchestration.grpo.module as module
    from agents.lm.generation import completion_logits
    from orchestration.grpo.config import build_grpo_config

    def one_pass(model, p_ids, c_ids, p_mask, c_mask, temperature):
        return completion_logits(model, p_ids, c_ids, p_mask, c_mask, temperature=temperature, share_prompts=False)

    original = module.completion_logits
    if not share_prompts:
        module.completion_logits = one_pass
    threads = torch.get_num_threads()
    if max_staleness:
        torch.set_num_threads(args.async_learner_threads)
    algo = build_grpo_config(pipeline_config(policy, args, max_staleness=max_staleness)).build_algo()
    try:
        for _ in range(args.warmup):
            algo.train()
        splits, tokens = [], 0
        t0 = time.perf_counter()
        for _ in range(args.iters):
            algo.train()
            m = algo.last_metrics
            splits.append({k: m[k] for k in ("generate_s", "reward_s", "update_s", "sync_s", "step_s")})
            tokens += int(m["generated_tokens"])
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "steps": args.iters, "completions": args.iters * args.tasks * args.group,
               "tokens": tokens, "split": {k: float(np.mean([s[k] for s in splits])) for k in splits[0]}}
        if profile:
            out["profile"] = profile_ours(algo, policy, args)
        return out
    finally:
        algo.stop()
        module.completion_logits = original
        torch.set_num_threads(threads)


def _cum(stats: pstats.Stats, match) -> float:
    """Cumulative seconds of the outermost calls of functions matching ``match(file, name)`` (no double count of
    recursion: primitive-call cumulative time)."""
    total = 0.0
    for (file, _, name), (_, _, _, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if match(file, name):
            # count only calls not made from another matching function
            outer = sum(v[3] for k, v in callers.items() if not match(k[0], k[2]))
            total += outer if callers else ct
    return total


def profile_ours(algo, policy: Path, args) -> dict:
    """Where one iteration's time goes. The learner runs in this process (cProfile of ``training_step``: forward =
    the module's ``completion_logits``, backward = ``torch.autograd.backward``); sampling runs in the policy actor,
    so its forward share is measured by profiling the same ``generate`` call on the same prompts in this process."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    algo.train()
    prof.disable()
    wall = time.perf_counter() - t0
    m = dict(algo.last_metrics)
    stats = pstats.Stats(prof)
    forward = _cum(stats, lambda f, n: n == "completion_logits")
    backward = _cum(stats, lambda f, n: n == "backward" and ("autograd" in f or "_tensor" in f))
    optimizer = _cum(stats, lambda f, n: n == "step" and "optim" in f)

    from agents.lm.generation import generate
    from agents.lm.model import load_policy

    model, tokenizer = load_policy(str(policy))
    prompts = bench_prompts(policy, args.tasks, args.data_seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        gprof = cProfile.Profile()
        t1 = time.perf_counter()
        gprof.enable()
        generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, num_return_sequences=args.group, seed=0)
        gprof.disable()
        gen_wall = time.perf_counter() - t1
    finally:
        torch.set_num_threads(threads)
    gstats = pstats.Stats(gprof)
    gen_forward = _cum(gstats, lambda f, n: n == "_call_impl" and "module.py" in f)  # outermost: the model call
    return {
        "iteration_wall_s": wall, "split": {k: m[k] for k in ("generate_s", "reward_s", "update_s", "sync_s", "step_s")},
        "update_forward_s": forward, "update_backward_s": backward, "update_optimizer_s": optimizer,
        "generate_in_process_s": gen_wall, "generate_forward_s": gen_forward,
    }


def run_trl(policy: Path, prompts: list[str], args) -> dict:
    """TRL's GRPOTrainer on the same model, prompts, group, batch, tokens and reward; steps timed by a callback."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig as TRLConfig, GRPOTrainer

    from agents.lm.model import load_policy

    model, tokenizer = load_policy(str(policy))
    tokenizer.padding_side = "left"
    batch = args.tasks * args.group
    total_steps = args.warmup + args.iters
    dataset = Dataset.from_dict({"prompt": [prompts[i % len(prompts)] for i in range(args.tasks * total_steps * 2)]})

    def reward(completions, **kwargs):
        return [share_of_e(c) for c in completions]

    stamps: list[float] = []
    tokens: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            stamps.append(time.perf_counter())

    out_dir = tempfile.mkdtemp(prefix="trl_bench_")
    cfg = TRLConfig(
        output_dir=out_dir, per_device_train_batch_size=batch, gradient_accumulation_steps=1, num_generations=args.group,
        steps_per_generation=1, num_iterations=1, max_completion_length=args.max_new_tokens, temperature=1.0, top_p=1.0,
        top_k=0, beta=0.0, epsilon=0.2, epsilon_high=0.28, learning_rate=args.lr, lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, max_steps=total_steps, logging_steps=1, report_to=[],
        save_strategy="no", use_cpu=True, bf16=False, fp16=False, seed=0, dataloader_num_workers=0, shuffle_dataset=False,
        scale_rewards="group", loss_type="dapo", disable_dropout=True, log_completions=False,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=dataset, processing_class=tokenizer,
                          callbacks=[Clock()])
    t0 = time.perf_counter()
    trainer.train()
    for entry in trainer.state.log_history:
        if "completions/mean_length" in entry:
            tokens.append(entry["completions/mean_length"] * batch)
    marks = [t0] + stamps
    timed = marks[args.warmup:]
    seconds = timed[-1] - timed[0]
    return {"seconds": seconds, "steps": len(timed) - 1, "completions": (len(timed) - 1) * batch,
            "tokens": float(sum(tokens[args.warmup:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16, help="prompts per optimiser step")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt (G)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--iters", type=int, default=6, help="timed optimiser steps per round and side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="alternations ours -> TRL")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--pool", type=int, default=64, help="train tasks both sides draw prompts from")
    parser.add_argument("--data-seed", type=int, default=1)
    parser.add_argument("--no-trl", action="store_true")
    parser.add_argument("--async", dest="run_async", action="store_true",
                        help="also run our asynchronous GRPO (train.max_staleness=1) in each round")
    parser.add_argument("--async-sampler-threads", type=int, default=1, help="torch threads of the policy actor, async row")
    parser.add_argument("--async-learner-threads", type=int, default=1, help="torch threads of the learner, async row")
    parser.add_argument("--one-pass", action="store_true", help="also run our learner without the shared-prompt forward")
    parser.add_argument("--split-full", action="store_true", help="also time our iteration on the whole ImageEdit-R1 graph")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import ray

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="grpo_bench_"))
    policy = build_policy(root)
    prompts = bench_prompts(policy, args.pool, args.data_seed)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, Any] = {"ours": [], "ours_async": [], "ours_one_pass": [], "trl": []}
    try:
        for r in range(args.rounds):
            results["ours"].append(run_ours(policy, args, profile=(r == args.rounds - 1)))
            print(f"round {r}: ours {results['ours'][-1]['seconds']:.1f} s", flush=True)
            if args.run_async:
                results["ours_async"].append(run_ours(policy, args, max_staleness=1))
                print(f"round {r}: ours, asynchronous {results['ours_async'][-1]['seconds']:.1f} s", flush=True)
            if args.one_pass:
                results["ours_one_pass"].append(run_ours(policy, args, share_prompts=False))
                print(f"round {r}: ours, one-pass learner {results['ours_one_pass'][-1]['seconds']:.1f} s", flush=True)
            if not args.no_trl:
                results["trl"].append(run_trl(policy, prompts, args))
                print(f"round {r}: trl {results['trl'][-1]['seconds']:.1f} s", flush=True)
        if args.split_full:
            results["split_full_no_cache"] = run_split(policy, args, perception_cache=False)
            results["split_full"] = run_split(policy, args)
    finally:
        ray.shutdown()
    load_after = os.getloadavg()

    def totals(rows: list[dict]) -> dict:
        s = sum(r["seconds"] for r in rows)
        c = sum(r["completions"] for r in rows)
        n = sum(r["steps"] for r in rows)
        t = sum(r["tokens"] for r in rows)
        return {"completions_per_s": c / s, "s_per_step": s / n, "tokens_per_s": t / s, "steps": n}

    summary = {"ours": totals(results["ours"])}
    if results["ours_async"]:
        summary["ours_async"] = totals(results["ours_async"])
    if results["ours_one_pass"]:
        summary["ours_one_pass"] = totals(results["ours_one_pass"])
    if results["trl"]:
        summary["trl"] = totals(results["trl"])
    print(f"\nload average before {load[0]:.2f}/{load[1]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}; "
          f"batch {args.tasks} x {args.group}, max_new_tokens {args.max_new_tokens}, {args.threads} torch threads\n")
    print("| side | optimiser steps timed | completions/s | s per optimiser step | generated tokens/s | ratio (completions/s) |")
    print("|---|---|---|---|---|---|")
    base = summary.get("trl", summary["ours"])["completions_per_s"]
    names = {"ours": "editrl GRPO (RLlib learner + Ray policy actor)",
             "ours_async": f"editrl GRPO, asynchronous (max_staleness 1; sampler {args.async_sampler_threads} + learner "
                           f"{args.async_learner_threads} threads)",
             "ours_one_pass": "editrl GRPO, learner without the shared-prompt forward (before)", "trl": f"TRL GRPOTrainer {_trl_version()}"}
    for side, s in summary.items():
        print(f"| {names[side]} | {s['steps']} | {s['completions_per_s']:.1f} | {s['s_per_step']:.2f} | "
              f"{s['tokens_per_s']:.0f} | {s['completions_per_s'] / base:.2f}x |")
    prof = results["ours"][-1].get("profile")
    if prof:
        print_split("decomposer alone, toy reward: part of one iteration (mean of the last round)", results["ours"][-1]["split"])
    if results.get("split_full"):
        print_split("whole ImageEdit-R1 graph, format + F1 reward: part of one iteration", results["split_full"])
        print_split("the same, without the perception cache (before): part of one iteration", results["split_full_no_cache"])
    if prof:
        ps = prof["split"]
        print("\nProfiled iteration (cProfile in the driver; generation profiled in-process on the same prompts):")
        print(f"- update {ps['update_s']:.3f} s: forward {prof['update_forward_s']:.3f} s "
              f"({prof['update_forward_s'] / ps['update_s']:.0%}), backward {prof['update_backward_s']:.3f} s "
              f"({prof['update_backward_s'] / ps['update_s']:.0%}), optimiser {prof['update_optimizer_s']:.3f} s")
        print(f"- generate (in-process copy) {prof['generate_in_process_s']:.3f} s: model forward "
              f"{prof['generate_forward_s']:.3f} s ({prof['generate_forward_s'] / prof['generate_in_process_s']:.0%})")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "load_before": load, "load_after": load_after,
                                               "summary": summary, "rounds": results}, indent=1, default=float))


def _trl_version() -> str:
    try:
        import trl

        return trl.__version__
    except ImportError:
        return "(not installed)"


if __name__ == "__main__":
    main()
