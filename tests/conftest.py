"""Fixtures any test folder can switch on (none is autouse here)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    # Test models are tiny: thread start-up costs more than it saves, and CI shares its 2 cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_pix2pix_path(tmp_path_factory):
    """A tiny InstructPix2Pix pipeline built from configs and saved once per test run (nothing is downloaded)."""
    from agents.diffusers_editor import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_kontext_path(tmp_path_factory):
    """A tiny FLUX.1-Kontext pipeline built from configs and saved once per test run."""
    from agents.diffusion.tiny import save_tiny_flux_kontext

    return save_tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "tiny-kontext")


@pytest.fixture(scope="session")
def tiny_gcpo_data(tmp_path_factory):
    """``(folder, verifier path, pairs)``: an untrained tiny LM verifier (its tokenizer trained on verifier
    trajectories) and Canvas preference pairs of three tasks in ``folder/pairs.parquet``."""
    from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
    from agents.lm.tokenizer import train_tokenizer
    from agents.lm.verifier_data import candidate_edits, preference_pairs, sft_examples
    from envs.canvas.generator import generate_mixed_task
    from envs.preferences import write_pairs

    root = tmp_path_factory.mktemp("gcpo")
    pairs, texts = [], []
    for index in range(3):
        task = generate_mixed_task(index, seed=3, split="train", step_mix={1: 1.0})
        cands = candidate_edits(task, kinds=("target", "source", "drop"))
        pairs += preference_pairs(task, cands, max_pairs=2)
        texts += [t for pair in sft_examples(task, cands) for t in pair]
    tokenizer = train_tokenizer(texts * 3, vocab_size=400)
    config = tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
    path = save_policy(build_model(tokenizer, config, seed=0), tokenizer, root / "verifier")
    write_pairs(pairs, root / "pairs.parquet")
    return root, path, pairs


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance on the 2 CI cores for the tests of one module, shut down after them."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
