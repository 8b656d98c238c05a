"""``train.placement`` on the local Ray cluster: the placement requested is the placement made (the groups' bundles
and strategies, each policy actor in its own bundle, the learner in the learners' group, on the learner's node), the
groups are removed when the algorithm stops, and a request the cluster cannot place fails at its timeout with what was
asked and what is free, leaving no group behind. The cluster declares two GPUs that do not exist: Ray schedules by the
numbers and nothing here touches CUDA."""

from __future__ import annotations

import pytest
import ray
from ray.util.placement_group import placement_group_table

from orchestration.config import ConfigError
from orchestration.grpo.config import build_grpo_config
from orchestration.grpo.placement import PlacementError


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _live_groups() -> list[dict]:
    return [g for g in placement_group_table().values() if g["state"] != "REMOVED"]


def test_placement_settings_are_validated_before_anything_starts(make_pipeline):
    with pytest.raises(ConfigError, match="train.placement.strategy"):
        build_grpo_config(make_pipeline(overrides=["train.placement={strategy: NEAR}"]))
    with pytest.raises(ConfigError, match="train.placement.gpus_per_actor"):  # GPUs per actor: agents.<node>.num_gpus
        build_grpo_config(make_pipeline(overrides=["train.placement={gpus_per_actor: 1}"]))
    assert build_grpo_config(make_pipeline()).placement is None  # off by default: Ray places as before

    # A bundle needs resources to reserve; the packaged agents reserve none.
    config = build_grpo_config(make_pipeline(overrides=["train.placement={}"]))
    with pytest.raises(ValueError, match=r"agents.decomposer reserves no resources.*set agents.decomposer.num_cpus"):
        config.validate()
    config = build_grpo_config(make_pipeline(overrides=[
        "train.placement={strategy: STRICT_SPREAD, colocate: true}", "agents.decomposer.num_cpus=0.5",
        "agents.decomposer.replicas=2"]))
    with pytest.raises(ValueError, match="STRICT_SPREAD puts each of the 2 policy actors on a node of its own"):
        config.validate()


def test_the_placement_requested_is_the_placement_made(ray_cluster, make_pipeline):
    pipeline = make_pipeline(overrides=[
        "train.placement={strategy: STRICT_PACK, learner_strategy: STRICT_SPREAD, colocate: true, timeout_s: 60}",
        "agents.decomposer.num_cpus=0.25", "agents.decomposer.num_gpus=0.5", "agents.decomposer.replicas=2"],
        train={"num_learners": 1})
    config = build_grpo_config(pipeline)
    config.validate()
    algo = config.build_algo()
    ours = algo.placement_group
    try:
        node = ray.get_runtime_context().get_node_id()
        group = placement_group_table(algo.placement_group)
        assert group["state"] == "CREATED" and group["strategy"] == "STRICT_PACK"
        assert group["bundles"] == {0: {"CPU": 0.25, "GPU": 0.5}, 1: {"CPU": 0.25, "GPU": 0.5}}
        assert set(group["bundles_to_node_id"].values()) == {node}  # colocate: the learner's node

        pg = algo.placement_group.id.hex()
        where = ray.get([actor.placement.remote() for actor in algo.policy_actors["decomposer"]])
        assert [w["placement_group"] for w in where] == [pg, pg]
        assert all(w["resources"] == {"CPU": 0.25, "GPU": 0.5} and w["node"] == node for w in where)
        # One actor in each bundle: an actor takes 0.001 of its bundle's 1000 marker units.
        free = ray.available_resources()
        assert [free.get(f"bundle_group_{i}_{pg}") for i in (0, 1)] == [999.999, 999.999]

        # The learner: RLlib started it in the group reserved for the learners (one bundle of RLlib's resources per
        # learner: 1 CPU for a CPU learner), with the learner strategy.
        (learners,) = [g for g in _live_groups() if g["name"] == "editrl-learners"]
        assert learners["strategy"] == "STRICT_SPREAD" and learners["bundles"] == {0: {"CPU": 1.0}}
        in_group = algo.learner_group.foreach_learner(lambda _: ray.get_runtime_context().get_placement_group_id())
        assert [r.get() for r in in_group] == [learners["placement_group_id"]]
    finally:
        algo.stop()
    assert placement_group_table(ours)["state"] == "REMOVED" and algo.placement_group is None
    assert _live_groups() == []  # both groups removed: ours by GRPO.cleanup, the learners' by RLlib


@pytest.mark.parametrize("placement,agent,needle", [
    ("{colocate: false, timeout_s: 1}", ["agents.decomposer.num_cpus=0.5"],
     r"policy actors' placement group was not placed within 1 s: asked for 1 bundle \[\{'CPU': 0.5\}\] \(strategy "
     r"PACK, off learner node\(s\) \w+, CPU 0.5 in all\); the cluster has free CPU 2, GPU 2, on 1 node"),
    ("{timeout_s: 1}", ["agents.decomposer.num_gpus=1.5", "agents.decomposer.replicas=2"],
     r"asked for 2 bundles \[\{'GPU': 1.5\}, \{'GPU': 1.5\}\] \(strategy PACK, GPU 3 in all\); the cluster has free "
     r"CPU 2, GPU 2"),
], ids=["off the only node", "more GPUs than the cluster"])
def test_an_unsatisfiable_placement_fails_with_what_was_asked_and_what_is_free(ray_cluster, make_pipeline, placement,
                                                                               agent, needle):
    config = build_grpo_config(make_pipeline(overrides=[f"train.placement={placement}", *agent]))
    config.validate()  # possible in principle: only the cluster can tell
    with pytest.raises(PlacementError, match=needle):
        config.build_algo()
    assert _live_groups() == []  # the pending group was removed, so it cannot take the resources later
