"""Reward models against the ground-truth judge on held-out preference pairs of held-out tasks.

    python benchmarks/verifier.py --sft runs/sft/verifier [--gcpo runs/edit_r1/checkpoints/iter_000016/policies/verifier]
        [--tasks 40] [--seed 0] [--max-pairs 2] [--json OUT]

Pairs: test-split Canvas tasks (never in any training data: training uses the train split), up to ``--max-pairs``
pairs each of edits the judge scores differently (`agents.lm.verifier_data`: the ideal result, nothing done,
dropped or mistargeted components, the Canvas editor on the raw and the explicit instruction). The judge is the
task's reference checklist answered on the perceived image (`orchestration.scoring`), so it prefers the edit that
passes more of it.

Verifiers, each scoring every edit of every pair on its own:

- ``untrained``: the SFT verifier's architecture and tokenizer with fresh weights (what GCPO would start from without
  the cold start);
- ``sft``: the cold start (`editrl sft --config edit_r1`);
- ``gcpo``: the GCPO-trained verifier, when given;
- ``rule``: the Canvas verifier with a checklist it derives from the user's instruction alone (``use_reference:
  false, derive_from: instruction``), the label-free rule reward, reading the request as the rule thinker does;
- ``rule_full``: the same with ``reader: full`` (`agents.canvas_reader`: every indirect reference resolved). The
  Canvas verifier *with* the reference checklist is the judge itself, so it is not a contestant.

Metrics: pairwise accuracy (a pair counts 1 when the preferred edit scores higher, 0.5 on a tie, 0 otherwise; the
tie share is reported), strict accuracy (ties count 0), and rank correlation with the judge's scores over every
scored edit (Spearman's rho and Kendall's tau-b, pooled over tasks). LM verifiers decode greedily. Each accuracy
comes with a bootstrap 95% interval over the pairs (chance is 0.5), and each verifier's accuracy minus the
label-free rule verifier's with a paired bootstrap 95% interval (the same pairs resampled for both).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402


def pairwise_accuracy(preferred: np.ndarray, rejected: np.ndarray) -> tuple[float, float, float]:
    """``(accuracy with ties as 0.5, strict accuracy, tie share)`` of scores of preferred and rejected edits.

    >>> pairwise_accuracy(np.array([1.0, 0.5, 0.2]), np.array([0.5, 0.5, 0.4]))
    (0.5, 0.3333333333333333, 0.3333333333333333)
    """
    return (float(np.mean(pair_credit(preferred, rejected))), float(np.mean(preferred > rejected)),
            float(np.mean(preferred == rejected)))


def pair_credit(preferred: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Per pair: 1 when the preferred edit scores higher, 0.5 on a tie, 0 otherwise (what the accuracy averages).

    >>> pair_credit(np.array([1.0, 0.5, 0.2]), np.array([0.5, 0.5, 0.4])).tolist()
    [1.0, 0.5, 0.0]
    """
    return (preferred > rejected) + 0.5 * (preferred == rejected)


def rank_correlations(scores: np.ndarray, judge: np.ndarray) -> tuple[float, float]:
    """Spearman's rho and Kendall's tau-b of a verifier's scores with the judge's; 0 when either is constant."""
    from scipy.stats import kendalltau, spearmanr

    if np.ptp(scores) == 0 or np.ptp(judge) == 0:
        return 0.0, 0.0
    return float(spearmanr(scores, judge).statistic), float(kendalltau(scores, judge).statistic)


def _lm_scorer(model: Any, tokenizer: Any, max_new_tokens: int, batch: int):
    from agents.base import EditResult, EpisodeState
    from agents.lm.verifier import LMVerifier

    agent = LMVerifier.from_model(model, tokenizer, temperature=0.0, max_new_tokens=max_new_tokens)

    def score(items: list[tuple[str, bytes, bytes]]) -> tuple[list[float], list[bool]]:
        states = [EpisodeState(task_id=str(k), instruction=i, source_png=s, edit=EditResult(image_png=e))
                  for k, (i, s, e) in enumerate(items)]
        verdicts = [v for k in range(0, len(states), batch) for v in agent.act_batch(states[k:k + batch])]
        return [v.score for v in verdicts], [bool(v.items) for v in verdicts]

    return score


def _rule_scorer(reader: str = "rule"):
    from agents.base import EditResult, EpisodeState
    from agents.verifier import CanvasVerifier

    agent = CanvasVerifier(use_reference=False, derive_from="instruction", reader=reader)

    def score(items: list[tuple[str, bytes, bytes]]) -> tuple[list[float], list[bool]]:
        verdicts = [agent.act(EpisodeState(task_id="x", instruction=i, source_png=s, edit=EditResult(image_png=e)))
                    for i, s, e in items]
        return [v.score for v in verdicts], [bool(v.items) for v in verdicts]

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sft", required=True, help="the SFT verifier (folder)")
    parser.add_argument("--gcpo", default=None, help="the GCPO verifier (folder), if any")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH", help="more LM verifiers to score")
    parser.add_argument("--tasks", type=int, default=40, help="held-out test-split tasks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-split tasks")
    parser.add_argument("--max-pairs", type=int, default=2, help="pairs per task")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16, help="LM verifier batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--skip", action="append", default=[], choices=("untrained", "sft", "rule", "rule_full"),
                        help="leave a verifier out (the untrained one writes max-new-tokens of noise per edit: slow)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    import torch

    from agents.lm.model import build_model, load_policy
    from orchestration.gcpo.__main__ import make_pairs

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pairs = make_pairs(args.tasks, "test", args.seed, args.max_pairs)
    # Every distinct edit is scored once; a pair refers to two of them.
    edits: dict[tuple[str, bytes], int] = {}
    items: list[tuple[str, bytes, bytes]] = []
    judge: list[float] = []
    index = []
    for p in pairs:
        ids = []
        for png, j in ((p.edit_a_png, p.judge_a), (p.edit_b_png, p.judge_b)):
            key = (p.pair_id.split(":")[0], png)
            if key not in edits:
                edits[key] = len(items)
                items.append((p.instruction, p.source_png, png))
                judge.append(float(j))
            ids.append(edits[key])
        index.append((ids[0], ids[1]) if p.preferred == "a" else (ids[1], ids[0]))
    data_s = time.perf_counter() - t0
    print(f"{len(pairs)} held-out pairs of {args.tasks} test tasks, {len(items)} distinct edits ({data_s:.0f} s)",
          file=sys.stderr)

    sft_model, tokenizer = load_policy(args.sft)
    scorers = {"untrained": _lm_scorer(build_model(tokenizer, type(sft_model.config)(**sft_model.config.to_dict()), seed=1),
                                       tokenizer, args.max_new_tokens, args.batch),
               "sft": _lm_scorer(sft_model, tokenizer, args.max_new_tokens, args.batch)}
    if args.gcpo:
        scorers["gcpo"] = _lm_scorer(*load_policy(args.gcpo), args.max_new_tokens, args.batch)
    for spec in args.extra:
        name, _, path = spec.partition("=")
        scorers[name] = _lm_scorer(*load_policy(path), args.max_new_tokens, args.batch)
    scorers["rule"] = _rule_scorer()
    scorers["rule_full"] = _rule_scorer("full")

    scorers = {name: scorer for name, scorer in scorers.items() if name not in args.skip}
    pref = np.array([i for i, _ in index])
    rej = np.array([j for _, j in index])
    judge_arr = np.array(judge)
    from orchestration.stats import bootstrap_mean, paired_bootstrap

    rows = []
    credits: dict[str, np.ndarray] = {}
    for name, scorer in scorers.items():
        began = time.perf_counter()
        scores, readable = scorer(items)
        s = np.array(scores)
        acc, strict, ties = pairwise_accuracy(s[pref], s[rej])
        credits[name] = pair_credit(s[pref], s[rej])
        interval = bootstrap_mean(credits[name])
        rho, tau = rank_correlations(s, judge_arr)
        rows.append({"verifier": name, "pairs": len(pairs), "accuracy": acc, "accuracy_low": interval.low,
                     "accuracy_high": interval.high, "strict_accuracy": strict, "ties": ties,
                     "spearman": rho, "kendall": tau, "readable": float(np.mean(readable)),
                     "mean_abs_error": float(np.mean(np.abs(s - judge_arr))), "seconds": time.perf_counter() - began})
        print(f"{name}: accuracy {acc:.3f}", file=sys.stderr)
    header = ("| verifier | pairs | pairwise acc. (ties 0.5) [95%] | strict acc. | ties | Spearman | Kendall | readable | "
              "MAE vs judge | s |")
    print(header)
    print("|" + "---|" * 10)
    for r in rows:
        print(f"| {r['verifier']} | {r['pairs']} | {r['accuracy']:.3f} [{r['accuracy_low']:.3f}, {r['accuracy_high']:.3f}] | "
              f"{r['strict_accuracy']:.3f} | {r['ties']:.3f} | "
              f"{r['spearman']:.3f} | {r['kendall']:.3f} | {r['readable']:.2f} | {r['mean_abs_error']:.3f} | {r['seconds']:.0f} |")
    if "rule" in credits:
        print("\npairwise accuracy minus the label-free rule verifier's, paired bootstrap 95% over the pairs:")
        for r in rows:
            if r["verifier"] != "rule":
                difference = paired_bootstrap(credits[r["verifier"]], credits["rule"])
                r["minus_rule"] = {"estimate": difference.estimate, "low": difference.low, "high": difference.high}
                print(f"- {r['verifier']}: {difference}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "edits": len(items),
                                               "pair_ids": [p.pair_id for p in pairs],
                                               "pair_credit": {name: c.tolist() for name, c in credits.items()},
                                               "machine": platform.platform()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
