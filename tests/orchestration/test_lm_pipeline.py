"""An LM policy in the agent graph, chosen by config: in-process and as a batching Ray actor."""

import pytest
import ray

from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
from agents.lm.tokenizer import canvas_corpus, train_tokenizer
from envs.canvas.generator import generate_tasks
from envs.editing_env import task_to_state
from orchestration.actors import ray_pipeline
from orchestration.config import load_config
from orchestration.evaluate import run_episodes
from orchestration.pipeline import Pipeline


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    tokenizer = train_tokenizer(list(canvas_corpus(30, seed=5)), vocab_size=512)
    model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2))
    return save_policy(model, tokenizer, tmp_path_factory.mktemp("policy") / "decomposer")


@pytest.fixture(scope="module")
def tasks():
    return list(generate_tasks(6, seed=13, split="test"))


def overrides(path):
    return [f"decomposer.model={path}", "decomposer.options={temperature: 0.0, max_new_tokens: 24}"]


def test_imageedit_r1_config_runs_with_a_saved_policy(policy_path, tasks):
    pipeline = Pipeline.local(load_config("imageedit_r1", overrides(policy_path)))
    result = pipeline.run(task_to_state(tasks[0]))
    assert result.ok, result.error
    decomposition = result.state.decomposition
    assert decomposition.raw is not None  # an untrained policy writes garbage; it is parsed, never raised on
    assert result.state.edit is not None and result.state.verdict is not None
    assert pipeline.describe()["agents"]["decomposer"]["model"] == str(policy_path)


def test_lm_actor_batches_concurrent_requests(policy_path, tasks):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = load_config("imageedit_r1", overrides(policy_path) + ["decomposer.batch_wait_ms=200"])
        pipeline = ray_pipeline(config)
        rows = run_episodes(pipeline, tasks, workers=6)
        assert all(r["ok"] for r in rows), [r["error"] for r in rows]
        stats = ray.get(pipeline.handles["decomposer"].actors[0].stats.remote())
        assert stats["requests"] == len(tasks) and stats["batches"] < len(tasks)  # several requests per batch
        local = run_episodes(Pipeline.local(config), tasks, workers=1)
        # Greedy decoding: batched (left-padded) generation gives the same answers as one at a time.
        assert [r["trace"] for r in rows] == [r["trace"] for r in local]
    finally:
        ray.shutdown()
