"""Per-note credit: a decomposer's reasoning notes found between its <think> tags and separators, scored against the
task's own trace, and mis-aligned completions left without note scores."""

from __future__ import annotations

import numpy as np

from agents.base import Decomposition, EpisodeState, Plan
from envs.canvas.generator import generate_tasks
from orchestration.grpo.algorithm import trace_notes
from orchestration.grpo.core import component_token_advantages
from orchestration.grpo.rollout import Episode, GroupRollouts
from orchestration.grpo.samples import SampledGroups

THINK, END_THINK, SEP, WORD = 3, 4, 6, 5  # token ids of <think>, </think>, ";" and any word in this synthetic batch


def _rollouts(task, thinks, ids):
    episodes = [Episode(task, EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=b"",
                                           decomposition=Decomposition(think=t, well_formed=True))) for t in thinks]
    ids = np.array(ids)
    samples = SampledGroups(prompt_ids=np.ones((len(ids), 3), np.int64), prompt_mask=np.ones((len(ids), 3), np.int64),
                            completion_ids=ids, completion_mask=(ids != 0).astype(np.int64),
                            old_logp=np.zeros(ids.shape, np.float32), finished=np.ones(len(ids), dtype=bool),
                            texts=("",) * len(ids), prompts=("p",), kept=(0,), versions=(0,), tokens=int((ids != 0).sum()))
    return GroupRollouts("decomposer", episodes, ["g"] * len(ids), ["f1"], np.ones(1), np.ones((len(ids), 1)), samples)


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


def test_a_reasoning_thinkers_notes_are_read_from_its_plan():
    task = _task_with_one_note()
    right = f"{len(task.components)} edits; {task.reasoning[0]}"
    rollouts = _rollouts(task, ["ignored"], [[THINK, WORD, SEP, WORD, WORD, END_THINK, WORD, 0]])
    episode = rollouts.episodes[0]
    episode.state = episode.state.model_copy(update={"decomposition": None, "plan": Plan(text="Make it so.", think=right)})
    token_note, scores = trace_notes(rollouts, THINK, END_THINK, SEP, role="thinker")
    assert scores == [[1.0]] and token_note[0].tolist() == [-1, -1, 0, 0, 0, -1, -1, -1]
    assert trace_notes(rollouts, THINK, END_THINK, SEP)[1] == [None]  # as a decomposer it has no decomposition
    # after a reflection round the trained completion is the first plan (in history), not the re-plan
    from envs.episode import RoundRecord

    episode.state = episode.state.model_copy(update={
        "plan": Plan(text="Do it again.", think="1 edit; x = y; z = w"),
        "history": [RoundRecord(plan=Plan(text="Make it so.", think=right))]})
    assert trace_notes(rollouts, THINK, END_THINK, SEP, role="thinker")[1] == [[1.0]]


COLON, EQ, COMMA = 7, 8, 9  # ":", " =" and "," in this synthetic batch


def test_scan_entries_get_their_own_scores_and_only_their_tokens_carry_them():
    from orchestration.grpo.algorithm import scan_entry_tokens

    task = _task_with_one_note().model_copy(update={"reasoning": ["the red shape = small red star"],
                                                     "reasoning_scans": ["large blue star 0.20 no, small red star 0.61 yes"]})
    phrase, members = "the red shape", "small red star"
    truth = ["large blue star 0.20 no", "small red star 0.61 yes"]
    flipped = ["large blue star 0.20 yes", "small red star 0.61 yes"]
    thinks = [f"1 edit; {phrase}: {', '.join(truth)} = {members}", f"1 edit; {phrase}: {', '.join(flipped)} = {members}"]
    row = [THINK, WORD, SEP, WORD, COLON, WORD, WORD, COMMA, WORD, WORD, EQ, WORD, END_THINK, WORD, 0]
    rollouts = _rollouts(task, thinks, [row, row])
    token_note, _ = trace_notes(rollouts, THINK, END_THINK, SEP)
    token_entry, scores = scan_entry_tokens(rollouts, token_note, COLON, EQ, COMMA)
    assert token_entry[0].tolist() == [-1, -1, -1, -1, -1, 0, 0, -1, 1, 1, -1, -1, -1, -1, -1]
    assert scores == [[1.0, 1.0], [0.0, 1.0]]
    adv = component_token_advantages(np.zeros(2), token_entry, scores, ["g", "g"], weight=1.0)
    assert adv[0, 5] > 0 > adv[1, 5]  # the misjudged object's tokens, and only they, are pushed down
    assert adv[1, 8] > 0 and adv[1, 4] == 0 and adv[1, 11] == 0
    # A scan whose tokens do not split into its parsed entries (one comma too few in the tokens) gets no scores.
    bad = _rollouts(task, thinks[:1], [[THINK, WORD, SEP, WORD, COLON, WORD, WORD, WORD, WORD, WORD, EQ, WORD, END_THINK, WORD, 0]])
    note_of_bad, _ = trace_notes(bad, THINK, END_THINK, SEP)
    assert scan_entry_tokens(bad, note_of_bad, COLON, EQ, COMMA)[1] == [None]
