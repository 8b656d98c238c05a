"""Fault injection during GRPO training: how many faults were injected, what was retried or dropped, what was lost.

Two parts, each with real faults (no mocks):

1. In-process run (``--iterations``): before each iteration, with probability ``--kill-prob``, a policy actor is
   SIGKILLed - at random either the moment its sampling call is sent (mid-iteration) or between iterations - and a
   plug-in verifier sleeps past its ``timeout_s`` on a ``--slow-prob`` share of calls. The per-iteration
   ``faults/*`` metrics are summed; ``lost_episodes`` and ``malformed_groups`` must stay 0.
2. SIGKILL of the training process (``--process-kills``): ``python -m orchestration.train`` is killed at a random
   point after its first checkpoint (a third of the time the moment a save has started) and resumed, repeatedly;
   each time ``latest`` must name a complete checkpoint and the resumed run must continue from its iteration.

    python benchmarks/faults.py --iterations 30 --process-kills 3 --seed 0 [--json out.json]

Nothing is downloaded: the policy is a tiny untrained LM built here (what is measured is the plumbing, not learning).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.base import Agent, EpisodeState, Verdict  # noqa: E402
from agents.verifier import CanvasVerifier  # noqa: E402


class FlakyVerifier(Agent):
    """The Canvas verifier, except that a ``slow_prob`` share of calls sleep ``delay_s`` first (seeded)."""

    role = "verifier"
    backend = "flaky"

    def __init__(self, slow_prob: float = 0.05, delay_s: float = 1.0, seed: int = 0, **kwargs) -> None:
        self.inner = CanvasVerifier(**kwargs)
        self.slow_prob, self.delay_s, self.rng = slow_prob, delay_s, random.Random(seed)

    def act(self, state: EpisodeState) -> Verdict:
        if self.rng.random() < self.slow_prob:
            time.sleep(self.delay_s)
        return self.inner.act(state)


def build_tiny_policy(root: Path) -> Path:
    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
    from agents.lm.tokenizer import canvas_corpus, train_tokenizer

    tokenizer = train_tokenizer(list(canvas_corpus(20, seed=5)), vocab_size=400)
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2))
    return save_policy(model, tokenizer, root / "decomposer")


def pipeline_config(policy: Path, extra: list[str]):
    from orchestration.config import load_config

    train = {"group_size": 4, "tasks_per_iteration": 4, "max_new_tokens": 12, "train_tasks": 100, "sampler_threads": 1,
             "rollout_samples": 0}
    return load_config("imageedit_r1", [f"agents.decomposer.model={policy}"] + [f"train.{k}={v}" for k, v in train.items()] + extra)


def in_process(policy: Path, args: argparse.Namespace) -> dict[str, float]:
    import ray

    from orchestration.grpo.config import build_grpo_config

    rng = random.Random(args.seed)
    extra = [f"decomposer.replicas={args.replicas}", "decomposer.max_restarts=-1",
             "verifier.cls=faults:FlakyVerifier", f"verifier.options={{slow_prob: {args.slow_prob}, delay_s: 0.6, seed: {args.seed}}}",
             "verifier.timeout_s=0.3"]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = build_grpo_config(pipeline_config(policy, extra)).build_algo()
    pool = algo.pools["decomposer"]
    totals: dict[str, float] = {"injected/actor_kills_mid_iteration": 0, "injected/actor_kills_between_iterations": 0}
    try:
        for _ in range(args.iterations):
            pool.on_submit = None
            up = [i for i in pool.live() if i in pool.pids and i not in pool.restarting]
            if rng.random() < args.kill_prob and up:
                victim = rng.choice(up)
                if rng.random() < 0.5:
                    armed = [True]

                    def hook(attempt: int, i: int, victim: int = victim, armed: list = armed) -> None:
                        if armed[0] and i == victim and attempt == 0:  # counted only when it fires
                            armed[0] = False
                            os.kill(pool.pids[victim], signal.SIGKILL)
                            totals["injected/actor_kills_mid_iteration"] += 1

                    pool.on_submit = hook
                else:
                    totals["injected/actor_kills_between_iterations"] += 1
                    os.kill(pool.pids[victim], signal.SIGKILL)
            grpo = algo.train()["grpo"]
            for key, value in grpo.items():
                if key.startswith("faults/") or key.endswith(("/lost_episodes", "/malformed_groups", "/failed_episodes",
                                                               "/trained_completions", "/groups")):
                    totals[key] = totals.get(key, 0.0) + float(value)
        totals["iterations"] = float(algo.iteration)
        totals["episodes"] = float(args.iterations * 4 * 4)
    finally:
        algo.stop()
        ray.shutdown()
    return totals


def process_kills(policy: Path, args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    from orchestration.grpo.checkpoint import checkpoint_root, is_complete, latest_checkpoint

    rng = random.Random(args.seed + 1)
    config = pipeline_config(policy, [])
    data = config.model_dump(mode="json")
    data["train"]["checkpoint_every"] = 1
    config_file = workdir / "config.yaml"
    import yaml

    config_file.write_text(yaml.safe_dump(data))
    run_dir = workdir / "run"
    root = checkpoint_root(run_dir)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    rows = []
    for k in range(args.process_kills + 1):
        last = k == args.process_kills
        resume = ["--resume"] if latest_checkpoint(run_dir) else []
        start_iter = json.loads((latest_checkpoint(run_dir) / "meta.json").read_text())["iteration"] if resume else 0
        iterations = start_iter + 2 if last else 10_000
        log = workdir / f"launch{k}.log"
        cmd = [sys.executable, "-m", "orchestration.train", "--config", str(config_file), "--run-dir", str(run_dir),
               "--iterations", str(iterations), *resume]
        row: dict[str, object] = {"launch": k, "resumed_from": start_iter}
        for attempt in range(3):  # on an overloaded machine ray.init itself can time out; that is not a finding
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
            time.sleep(1.0)
            while proc.poll() is None and "Started a local Ray instance" not in log.read_text():
                time.sleep(0.2)
            if "Started a local Ray instance" in log.read_text():
                break
            row["ray_init_failures"] = attempt + 1
        if last:
            row["exit"] = proc.wait(timeout=600)
        else:
            before = latest_checkpoint(run_dir)
            deadline = time.monotonic() + 300
            while latest_checkpoint(run_dir) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            mid_save = rng.random() < 1 / 3
            if mid_save:
                seen = {p.name for p in root.glob(".tmp_*")}
                while not ({p.name for p in root.glob(".tmp_*")} - seen) and proc.poll() is None:
                    time.sleep(0.005)
            else:
                time.sleep(rng.uniform(0.0, 3.0))
            if proc.poll() is not None:
                raise RuntimeError(f"training exited ({proc.returncode}) before the kill:\n{log.read_text()[-3000:]}")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            row["kill"] = "mid-save" if mid_save else "random"
            row["leftover_tmp"] = len(list(root.glob(".tmp_*")))
        try:  # what is left of its process group (Ray processes it started): clean-up, not a fault
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        latest = latest_checkpoint(run_dir)
        row["latest"] = latest.name if latest else None
        row["latest_complete"] = bool(latest and is_complete(latest) and (root / "latest").read_text().strip() == latest.name)
        if resume:  # it said it resumed from the checkpoint `latest` named at launch
            row["resumed_ok"] = f"resuming from {root / f'iter_{start_iter:06d}'}" in log.read_text()
        rows.append(row)
    import pyarrow.parquet as pq

    iterations = [r["iteration"] for r in pq.read_table(run_dir / "metrics.parquet").to_pylist()]
    rows.append({"metrics_iterations_contiguous": iterations == list(range(1, len(iterations) + 1)),
                 "final_iteration": iterations[-1] if iterations else 0})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--kill-prob", type=float, default=0.3)
    p.add_argument("--slow-prob", type=float, default=0.02)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--process-kills", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy = build_tiny_policy(Path(tmp))
        result: dict[str, object] = {}
        if args.iterations:
            result["in_process"] = in_process(policy, args)
            print(json.dumps(result["in_process"], indent=1))
        if args.process_kills:
            result["process_kills"] = process_kills(policy, args, Path(tmp))
            for row in result["process_kills"]:
                print(json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
