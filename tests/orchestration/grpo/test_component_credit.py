"""Per-component credit: lines found by their <action> tag, scored against the ground truth, mis-aligned
completions left at the sequence advantage, and the learner taking [N, T] advantages."""

from __future__ import annotations

import numpy as np
import torch

from agents.base import Decomposition, EpisodeState
from envs.canvas.generator import generate_task
from envs.task import ComponentSpec
from orchestration.grpo.algorithm import component_lines, module_batch
from orchestration.grpo.core import policy_loss
from orchestration.grpo.rollout import Episode, GroupRollouts
from orchestration.grpo.samples import SampledGroups

ACTION = 7  # the <action> tag's token id in this synthetic batch


def _rollouts(task, decompositions, ids):
    episodes = [Episode(task, EpisodeState(task_id=task.task_id, instruction=task.instruction, source_png=b"", decomposition=d))
                for d in decompositions]
    ids = np.array(ids)
    samples = SampledGroups(prompt_ids=np.ones((len(ids), 3), np.int64), prompt_mask=np.ones((len(ids), 3), np.int64),
                            completion_ids=ids, completion_mask=(ids != 0).astype(np.int64),
                            old_logp=np.zeros(ids.shape, np.float32), finished=np.ones(len(ids), dtype=bool),
                            texts=("",) * len(ids), prompts=("p",), kept=(0,), versions=(0,), tokens=int((ids != 0).sum()))
    return GroupRollouts("decomposer", episodes, ["g"] * len(ids), ["f1"], np.ones(1), np.ones((len(ids), 1)), samples)


def test_lines_follow_action_tags_and_scores_follow_the_truth():
    task = generate_task(0, seed=3)
    truth = task.components_as_dicts()
    right = [ComponentSpec(**c) for c in truth]
    wrong = [ComponentSpec(action=c["action"], subject=["the nothing"], target=c["target"]) for c in truth]
    n = len(truth)
    line = [ACTION, 5, 5]
    ids = [[1, 2] + line * n + [9, 0, 0], [1, 2] + line * n + [9, 0, 0], [1, 2] + line * (n + 1)]
    decompositions = [Decomposition(components=right, well_formed=True), Decomposition(components=wrong, well_formed=True),
                      Decomposition(components=right, well_formed=True)]  # one tag too many: cannot align
    token_line, scores = component_lines(_rollouts(task, decompositions, ids), ACTION)
    assert token_line[0, :2].tolist() == [-1, -1] and token_line[0, 2:5].tolist() == [0, 0, 0]
    assert token_line[0, 2 + 3 * (n - 1)] == n - 1 and token_line[0, -3] == n - 1  # the last line runs to the end
    assert token_line[0, -2:].tolist() == [-1, -1]  # padding
    assert scores[0] == [1.0] * n and all(s < 1.0 for s in scores[1]) and scores[2] is None


def test_token_advantages_reach_the_loss_per_token():
    task = generate_task(0, seed=3)
    rollouts = _rollouts(task, [None, None], [[ACTION, 5, 9, 0], [ACTION, 5, 5, 9]])
    adv = np.array([[1.0, 1.0, 1.0, 1.0], [-2.0, -2.0, 0.5, 0.5]])
    batch = module_batch(rollouts.samples, adv, np.array([0, 1]))
    assert batch["advantages"].shape == (2, 4) and batch["advantages"][1, 2] == 0.5
    logp = torch.zeros(2, 4, requires_grad=True)
    loss, _ = policy_loss(logp, torch.zeros(2, 4), torch.tensor(batch["advantages"]), torch.tensor(batch["completion_mask"]).float())
    loss.backward()
    # d(-rho * A)/d logp = -A per real token (ratio 1), divided by the number of real tokens (token-mean).
    assert torch.allclose(logp.grad[1], torch.tensor([2.0, 2.0, -0.5, -0.5]) / 7)
    assert logp.grad[0, 3] == 0  # padding


def test_grounded_line_scores_accept_any_description_of_the_right_object():
    from envs.canvas.refer import resolve, unique_descriptions
    from envs.canvas.grounding import truth_states
    from envs.canvas.scene import Scene
    from rewards.types import as_components

    task = generate_task(0, seed=3)
    truth = task.components_as_dicts()
    states = truth_states(Scene.from_json(task.source_scene), as_components(truth), task.order)
    reworded = []
    for c, scene in zip(truth, states):
        if c["action"] in ("add", "background"):
            reworded.append(ComponentSpec(**c))
            continue
        # another unique description of each subject's object, where there is one
        names = []
        for text in c["subject"]:
            obj = resolve(text, scene.objects)[0]
            names.append(next((d for d in unique_descriptions(obj, scene) if d != text), text))
        reworded.append(ComponentSpec(action=c["action"], subject=names, target=c["target"]))
    n = len(truth)
    ids = [[1] + [ACTION, 5] * n]
    rollouts = _rollouts(task, [Decomposition(components=reworded, well_formed=True)], ids)
    assert component_lines(rollouts, ACTION, "grounded")[1][0] == [1.0] * n
    if reworded != [ComponentSpec(**c) for c in truth]:
        assert min(component_lines(rollouts, ACTION, "f1")[1][0]) < 1.0  # the string match does not see it
