"""Per-note credit: a decomposer's reasoning notes found between its <think> tags and separators, scored against the
task's own trace, and mis-aligned completions left without note scores."""

from __future__ import annotations

import numpy as np

from agents.base import Decomposition, EpisodeState
from envs.canvas.generator import generate_tasks
from orchestration.grpo.algorithm import trace_notes
from orchestration.grpo.core import component_token_advantages
from orchestration.grpo.rollout import Episode, GroupRollouts

THINK, END_THINK, SEP, WORD = 3, 4, 6, 5  # token ids of <think>, </think>, ";" and any word in this synthetic batch


def _rollouts(task, thinks, ids):
    episodes = [Episode(task, EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=b"",
                                           decomposition=Decomposition(think=t, well_formed=True))) for t in thinks]
    ids = np.array(ids)
    arrays = {"completion_ids": ids, "completion_mask": (ids != 0).astype(np.int64), "prompt_ids": np.ones((len(ids), 3), np.int64),
              "prompt_mask": np.ones((len(ids), 3), np.int64), "logprobs": np.zeros(ids.shape, np.float32)}
    return GroupRollouts("decomposer", episodes, ["g"] * len(ids), ["f1"], np.ones(1), np.ones((len(ids), 1)), arrays)


def _task_with_one_note():
    return next(t for t in generate_tasks(200, seed=5) if len(t.reasoning) == 1)


def test_notes_follow_separators_and_scores_follow_the_trace():
    task = _task_with_one_note()
    phrase = task.reasoning[0].split("=")[0].strip()
    n = len(task.components)
    right = f"{n} edits; {task.reasoning[0]}"
    wrong = f"{n} edits; {phrase} = small nothing circle"
    ids = [[THINK, WORD, SEP, WORD, WORD, END_THINK, WORD, 0],
           [THINK, WORD, SEP, WORD, WORD, END_THINK, WORD, 0],
           [THINK, WORD, WORD, WORD, WORD, END_THINK, WORD, 0]]  # a separator in the text but not in the tokens
    token_note, scores = trace_notes(_rollouts(task, [right, wrong, right], ids), THINK, END_THINK, SEP)
    assert token_note[0].tolist() == [-1, -1, 0, 0, 0, -1, -1, -1]  # the count and the answer are not notes
    assert scores[0] == [1.0] and scores[1] == [0.0] and scores[2] is None
    adv = component_token_advantages(np.zeros(3), token_note, scores, ["g"] * 3, weight=1.0)
    assert adv[0, 3] > 0 > adv[1, 3] and adv[0, 6] == 0 and adv[2].tolist() == [0.0] * 8


def test_an_unclosed_think_gets_no_note_scores():
    task = _task_with_one_note()
    token_note, scores = trace_notes(_rollouts(task, ["1 edit; x = y"], [[THINK, WORD, SEP, WORD, WORD, WORD]]),
                                     THINK, END_THINK, SEP)
    assert scores == [None] and (token_note == -1).all()
