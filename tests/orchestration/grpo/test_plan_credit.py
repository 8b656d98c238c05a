"""Per-sentence credit for a thinker: its plan's sentences found in its tokens by their text, each scored by the
components the Canvas editor reads in it against the task's ground truth."""

from __future__ import annotations

import numpy as np
from transformers import AutoTokenizer

from agents.base import EpisodeState
from agents.lm.policy import parse_plan
from envs.canvas.generator import generate_tasks
from orchestration.grpo.algorithm import plan_sentence_scores, plan_sentences
from orchestration.grpo.rollout import Episode, GroupRollouts
from orchestration.grpo.samples import SampledGroups

SHIPPED = "agents/lm/pretrained/decomposer"


def _rollouts(task, completions, tokenizer):
    rows = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]
    width = max(map(len, rows))
    ids = np.array([r + [0] * (width - len(r)) for r in rows])
    mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    episodes = [Episode(task, EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=b"",
                                           plan=parse_plan(c))) for c in completions]
    samples = SampledGroups(prompt_ids=np.ones((len(ids), 3), np.int64), prompt_mask=np.ones((len(ids), 3), np.int64),
                            completion_ids=ids, completion_mask=mask, old_logp=np.zeros(ids.shape, np.float32),
                            finished=np.ones(len(ids), dtype=bool), texts=tuple(completions), prompts=("p",), kept=(0,),
                            versions=(0,), tokens=int(mask.sum()))
    return GroupRollouts("thinker", episodes, ["g"] * len(ids), ["x"], np.ones(1), np.ones((len(ids), 1)), samples)


def test_each_sentence_gets_the_score_of_what_the_editor_reads_in_it():
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)
    pieces = [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in range(len(tokenizer))]
    task = next(t for t in generate_tasks(80, seed=1) if t.n_steps == 2 and t.category == "direct")
    first, second = task.explicit_instruction.split(". Then ")
    right = f"<think>2 edits</think><answer>\n{task.explicit_instruction}\n</answer>"
    wrong = f"<think>2 edits</think><answer>\n{first}. Then remove the large nothing hexagon.\n</answer>"
    token_sentence, scores = plan_sentences(_rollouts(task, [right, wrong, "<think>2 edits</think>"], tokenizer), pieces)
    assert scores[0] == [1.0, 1.0] and scores[1][0] == 1.0 and scores[1][1] == 0.0 and scores[2] is None
    # the tokens of each sentence carry its index: the think and the tags carry none
    text_of = lambda row, k: "".join(pieces[int(t)] for t, s in zip(_rollouts(task, [right], tokenizer).samples.completion_ids[0], token_sentence[row]) if s == k)
    assert text_of(0, 0).strip() == first + "." and text_of(0, 1).strip() == "Then " + second
    assert (token_sentence[2] == -1).all()


def test_sentence_scores_follow_the_scene_from_step_to_step():
    task = next(t for t in generate_tasks(200, seed=1) if t.n_steps == 3)
    text = task.explicit_instruction
    ends = [k + 1 for k, ch in enumerate(text) if ch == "."]
    spans = list(zip([0, *ends[:-1]], ends))
    assert plan_sentence_scores(text, spans, task) == [1.0, 1.0, 1.0]
    first = text[:ends[0]]
    assert plan_sentence_scores(first, [(0, len(first))], task) == [1.0]  # a missing step costs the plan, not this sentence
