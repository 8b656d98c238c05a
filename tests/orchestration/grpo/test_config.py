"""Bad configs are rejected with the field's name and what to change; good ones become a GRPOConfig."""

from __future__ import annotations

import pytest

from orchestration.config import ConfigError, load_config
from orchestration.grpo.config import GRPOConfig, TrainSection, build_grpo_config, train_section


def test_packaged_configs_have_valid_train_sections(make_pipeline):
    for name in ("imageedit_r1", "dda_thinker", "thinkrl_edit"):
        section = train_section(load_config(name))
        assert isinstance(section, TrainSection)
        config = build_grpo_config(make_pipeline(name))
        assert config.grpo_errors() == []
        assert config.module_ids == ["thinker" if name != "imageedit_r1" else "decomposer"]


def test_train_section_maps_to_rllib_fields(make_pipeline):
    config = build_grpo_config(make_pipeline(train={"lr": 3e-4, "epochs_per_batch": 2, "minibatch_size": 4, "grad_clip": 0.5, "seed": 7}))
    assert (config.lr, config.num_epochs, config.minibatch_size, config.grad_clip, config.seed) == (3e-4, 2, 4, 0.5, 7)
    assert config.resolved_trainable() == {"decomposer": {"rewards": [("grounded_f1", 1.0), ("success", 1.0), ("format", 1.0)], "advantage": "grpo"}}


@pytest.mark.parametrize("key, value, field", [
    ("train.group_sise", 4, "train.group_sise"),            # typo: unknown key
    ("train.group_size", 1, "train.group_size"),            # a group of one has no baseline
    ("train.kl_estimator", "k4", "train.kl_estimator"),
    ("train.loss_agg", "sum", "train.loss_agg"),
    ("train.clip_low", 1.5, "train.clip_low"),
    ("train.sft.roles", "[sorter]", "train.sft.roles"),
    ("train.difficulty_filter", "{lo: 0.1}", "train.difficulty_filter.lo"),
    ("train.step_mix", "{5: 1.0}", "train.step_mix.5.[key]"),
    ("train.sft.step_mix", "{1: -1}", "train.sft.step_mix.1"),
    ("train.sft.note_subjects", 1.5, "train.sft.note_subjects"),
    ("train.sft", "{reasoning: false, note_subjects: 0.5}", "set reasoning: true"),
    ("train.sft", "{reasoning: true, readable_references: true}", "set note_subjects > 0"),
    ("train.sft.scan_forms", "{verdicts: 0, none: 0}", "at least one"),
    ("train.sft.scan_forms", "{sorted: 1}", "train.sft.scan_forms.sorted"),
    ("train.sft.reflection", "{tasks: 100}", "add thinker to roles"),      # imageedit_r1 cold-starts a decomposer
    ("train.sft.reflection", "{steps: 0}", "train.sft.reflection.steps"),
    ("train.sft.init", "{sorter: x}", "train.sft.init.sorter"),
])
def test_bad_train_values_name_the_field(key, value, field):
    config = load_config("imageedit_r1", [f"{key}={value}"])
    with pytest.raises(ConfigError) as err:
        train_section(config)
    assert field in str(err.value)


@pytest.mark.parametrize("overrides, needle", [
    (["rewards.decomposer=[{name: f2}]"], "train.agents.decomposer.rewards: unknown reward 'f2'"),
    (["train.agents={sorter: {}}"], "train.agents.sorter"),
    (["train.agents={planner: {}}"], "'planner' is not a node of the graph"),
    (["rewards.decomposer=[]"], "train.agents.decomposer.rewards: no reward terms"),
    (["train.agents={decomposer: {advantage: dual_atomic, rewards: [{name: f1}]}}"], "dual_atomic needs at least two reward terms"),
    (["decomposer.model=null"], "agents.decomposer.model is not set"),
    (["train.baseline=greedy"], "set greedy_member=true as well"),
    (["decomposer.backend=vlm", "train.greedy_member=true"], "set greedy_member to false"),
    (["train.scan_credit=1.0", "train.agents={sorter: {}}"], "train.agents.sorter"),
    (["train.greedy_member=true", "train.baseline=greedy",
      "train.agents={decomposer: {advantage: dual_atomic, rewards: [{name: f1}, {name: format}]}}"], "baseline 'greedy'"),
])
def test_bad_grpo_configs_are_rejected_with_the_field(make_pipeline, overrides, needle):
    config = build_grpo_config(make_pipeline(overrides=overrides))
    with pytest.raises(ValueError) as err:
        config.validate()
    assert needle in str(err.value)


def test_difficulty_filter_needs_a_verifier(make_pipeline):
    pipeline = make_pipeline(overrides=["graph.nodes=[decomposer, sorter, editor]"], train={"difficulty_filter": {"low": 0.0, "high": 1.0}})
    errors = build_grpo_config(pipeline).grpo_errors()
    assert any("difficulty_filter" in e and "verifier" in e for e in errors)


def test_builder_fields_are_checked():
    config = GRPOConfig().editing(pipeline=load_config("imageedit_r1")).grpo(group_size=1, temperature=0.0, top_p=2.0)
    errors = " ".join(config.grpo_errors())
    for field in ("group_size=1", "temperature=0.0", "top_p=2.0"):
        assert field in errors
    assert "pipeline_config is not set" in " ".join(GRPOConfig().grpo_errors())


@pytest.mark.parametrize("value", [2, -1])
def test_max_staleness_is_0_or_1_and_says_what_each_means(value):
    with pytest.raises(ConfigError, match=r"train.max_staleness: .*use 0 \(synchronous\) or 1 \(sample iteration k\+1"):
        train_section(load_config("imageedit_r1", [f"train.max_staleness={value}"]))
    errors = " ".join(GRPOConfig().editing(pipeline=load_config("imageedit_r1")).grpo(max_staleness=value).grpo_errors())
    assert f"max_staleness={value}" in errors and "use 0 (synchronous) or 1" in errors
    assert "max_staleness=True" in " ".join(GRPOConfig().grpo(max_staleness=True).settings_errors())  # not a count
    assert train_section(load_config("imageedit_r1", ["train.max_staleness=1"])).max_staleness == 1


def test_cli_rejects_bad_configs_before_starting_anything(capsys, tmp_path):
    from orchestration.cli import main as editrl
    from orchestration.train import main as train_module

    assert editrl(["train", "--config", "imageedit_r1", "--set", "train.group_size=1"]) == 2
    assert "train.group_size" in capsys.readouterr().err
    assert train_module(["--config", "imageedit_r1", "--set", "rewards.decomposer=[{name: nope}]"]) == 2
    assert "train.agents.decomposer.rewards: unknown reward 'nope'" in capsys.readouterr().err
    assert editrl(["sft", "--config", "imageedit_r1", "--set", "train.sft.steps=0"]) == 2
    assert "train.sft.steps" in capsys.readouterr().err
    # A policy folder that SFT has not written yet: named, with the command that writes it, before Ray starts.
    assert train_module(["--config", "imageedit_r1", "--set", f"decomposer.model={tmp_path}/no_sft_yet",
                         "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "agents.decomposer.model" in err and "does not exist" in err and "editrl sft --config imageedit_r1" in err
    assert not (tmp_path / "run").exists()


def test_step_mix_reaches_the_task_pool(make_pipeline):
    from orchestration.grpo.algorithm import TaskPool

    config = build_grpo_config(make_pipeline(train={"step_mix": {4: 1.0}, "data_seed": 3}))
    assert config.step_mix == {4: 1.0}
    pool = TaskPool(None, n=10, seed=config.data_seed, step_mix=config.step_mix)
    assert pool[0].n_steps == 4 and pool[1].n_steps == 4


def test_category_mix_reaches_the_task_pool_and_names_are_checked(make_pipeline):
    from orchestration.grpo.algorithm import TaskPool

    config = build_grpo_config(make_pipeline(train={"category_mix": {"superlative": 1.0}, "component_score": "grounded"}))
    assert config.category_mix == {"superlative": 1.0} and config.component_score == "grounded"
    pool = TaskPool(None, n=10, seed=config.data_seed, step_mix=config.step_mix, category_mix=config.category_mix)
    assert pool[0].category == "superlative" and pool[1].category == "superlative"
    with pytest.raises(Exception, match="category_mix"):
        build_grpo_config(make_pipeline(train={"category_mix": {"spacial": 1.0}}))
    with pytest.raises(Exception, match="component_score"):
        build_grpo_config(make_pipeline(train={"component_score": "strings"}))


def test_rewordings_reach_the_task_pool_and_reword_only_one_step_direct_requests(make_pipeline):
    from orchestration.grpo.algorithm import TaskPool

    config = build_grpo_config(make_pipeline(train={"category_mix": {"direct": 1.0, "spatial": 1.0},
                                                    "step_mix": {1: 1.0}, "rewordings": 1.0}))
    assert config.rewordings == 1.0
    plain = TaskPool(None, n=30, seed=config.data_seed, step_mix=config.step_mix, category_mix=config.category_mix)
    reworded = TaskPool(None, n=30, seed=config.data_seed, step_mix=config.step_mix, category_mix=config.category_mix,
                        rewordings=config.rewordings)
    changed = [i for i in range(30) if reworded[i].instruction != plain[i].instruction]
    assert changed and all(plain[i].category == "direct" for i in changed)
    assert all(reworded[i].components == plain[i].components for i in range(30))  # same ground truth
    assert all(reworded[i] == plain[i] for i in range(30) if plain[i].category != "direct")
    with pytest.raises(Exception, match="rewordings"):
        build_grpo_config(make_pipeline(train={"rewordings": 1.5}))
    # a share with nothing to reword is refused by name, not trained on the generator's wording in silence
    with pytest.raises(Exception, match="category_mix draws no direct tasks"):
        build_grpo_config(make_pipeline(train={"category_mix": {"spatial": 1.0}, "rewordings": 0.5}))
    with pytest.raises(Exception, match="train_data is set"):
        build_grpo_config(make_pipeline(train={"train_data": "tasks.parquet", "rewordings": 0.5}))


def test_every_grpo_setting_is_documented_once_and_reaches_grpo_config_with_its_default(make_pipeline):
    import inspect

    from ray.rllib.algorithms.algorithm_config import NotProvided

    from orchestration.grpo.config import RLLIB_FIELDS, GRPOSettings

    defaults = GRPOSettings().model_dump()
    assert all(field.description for field in TrainSection.model_fields.values())
    assert set(GRPOSettings.model_fields) <= set(TrainSection.model_fields)
    config, built = GRPOConfig(), build_grpo_config(make_pipeline(), TrainSection())  # by hand / from a YAML section
    for name, default in defaults.items():
        assert getattr(config, name) == default == getattr(built, name), name
    for name, rllib_name in RLLIB_FIELDS.items():
        assert getattr(config, rllib_name) == TrainSection.model_fields[name].default == getattr(built, rllib_name), name
    assert RLLIB_FIELDS == {"lr": "lr", "grad_clip": "grad_clip", "epochs_per_batch": "num_epochs",
                            "minibatch_size": "minibatch_size", "num_learners": "num_learners"}
    # .grpo() takes exactly the model's names, keyword-only, NotProvided by default, each documented in its docstring
    params = dict(inspect.signature(GRPOConfig.grpo).parameters)
    params.pop("self")
    assert list(params) == list(GRPOSettings.model_fields)
    assert all(p.kind is p.KEYWORD_ONLY and p.default is NotProvided for p in params.values())
    assert all(f"    {name}: " in GRPOConfig.grpo.__doc__ for name in params)


def test_grpo_builder_keeps_not_provided_values_and_refuses_unknown_names():
    from ray.rllib.algorithms.algorithm_config import NotProvided

    from orchestration.grpo.config import DifficultyFilter

    config = GRPOConfig().grpo(group_size=4, difficulty_filter=DifficultyFilter(low=0.1)).grpo(group_size=NotProvided)
    assert config.group_size == 4
    assert config.difficulty_filter == {"low": 0.1, "high": 1.0, "min_visits": 1}  # plain data, as checkpoints hold it
    with pytest.raises(TypeError, match="unknown setting 'group_sise' \\(did you mean 'group_size'"):
        GRPOConfig().grpo(group_sise=4)
    errors = GRPOConfig().grpo(group_size="8", difficulty_filter={"low": 0.5, "high": 0.5}).training(num_epochs=0).grpo_errors()
    assert any(e.startswith("group_size='8'") for e in errors)  # checked strictly: a string is not a count
    assert any(e.startswith("difficulty_filter=") and "low < high" in e for e in errors)
    assert any(e.startswith("num_epochs=0 (train.epochs_per_batch)") for e in errors)


@pytest.mark.parametrize("override, needle", [
    ("train.agents={decomposer: {advantage: gae}}",
     "train.agents.decomposer.advantage: Value error, unknown advantage estimator 'gae'; known: grpo, dual_atomic, ucpg"),
    ("train.policy_loss=ppo2", "train.policy_loss: Value error, unknown policy loss 'ppo2'; known: clip"),
])
def test_unknown_estimator_or_loss_names_are_refused_with_the_known_ones(override, needle):
    with pytest.raises(ConfigError) as err:
        train_section(load_config("imageedit_r1", [override]))
    assert needle in str(err.value)


def test_unknown_names_given_to_the_builder_are_refused_with_the_known_ones(make_pipeline):
    config = build_grpo_config(make_pipeline()).editing(trainable_agents={"decomposer": {"advantage": "gae"}})
    config.grpo(policy_loss="ppo2")
    errors = config.grpo_errors()
    assert "train.agents.decomposer.advantage: unknown advantage estimator 'gae'; known: grpo, dual_atomic, ucpg" in errors
    assert "policy_loss='ppo2': Value error, unknown policy loss 'ppo2'; known: clip" in errors


def test_a_checkpoint_without_a_newer_setting_resumes_as_its_default(make_pipeline):
    from orchestration.train import resume_changes

    state = build_grpo_config(make_pipeline()).get_state()
    older = {k: v for k, v in state.items() if k != "policy_loss"}
    assert resume_changes(older, state) == []
    assert resume_changes(older, {**state, "policy_loss": "other"}) == ["train.policy_loss: 'clip' -> 'other'"]


def test_sft_data_options_are_what_make_sft_data_takes():
    import inspect

    from agents.lm.sft import make_sft_data
    from orchestration.grpo.config import SFTSection

    options = SFTSection(reasoning=True, scan=True, centre_lookups=0.5).data_options()
    assert set(options) <= set(inspect.signature(make_sft_data).parameters)
    assert options["centre_lookups"] == 0.5 and options["scan"]


def test_a_reward_read_from_the_rule_readers_checklist_is_warned_about(tiny_policies):
    from orchestration.grpo.config import weak_verifier_rewards

    thinker = f"thinker.model={tiny_policies['thinker']}"
    weak = load_config("dda_thinker", [thinker, "verifier={backend: canvas, options: {use_reference: false, derive_from: instruction}}"])
    (warning,) = weak_verifier_rewards(weak, build_grpo_config(weak).resolved_trainable())
    assert "train.agents.thinker: its rewards checklist read" in warning and "reader: full" in warning
    for fine in ("verifier={backend: canvas}",  # the task's reference checklist
                 "verifier={backend: canvas, options: {use_reference: false, derive_from: instruction, reader: full}}"):
        pipeline = load_config("dda_thinker", [thinker, fine])
        assert weak_verifier_rewards(pipeline, build_grpo_config(pipeline).resolved_trainable()) == []
