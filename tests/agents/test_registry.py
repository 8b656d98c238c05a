"""The registry's capability declarations: what each derived backend set holds, and that it follows the entries."""

from __future__ import annotations

import pytest

from agents.registry import (
    BUILTIN,
    CAPABILITY_NAMES,
    PLAIN,
    Builtin,
    Capabilities,
    backends_with,
    builtin_capabilities,
    trainable_summary,
)


def test_derived_backend_sets_are_what_the_entries_declare():
    for name in CAPABILITY_NAMES:
        declared = {backend for (_, backend), entry in BUILTIN.items() if getattr(entry.capabilities, name)}
        assert set(backends_with(name)) == declared, name


def test_derived_backend_sets_keep_the_built_in_backends_where_they_were():
    # The sets the orchestration acted on before they were derived: model paths checked, checkpoint and batching in
    # Serve, EditingEnv's default policies, GRPO, the SFT cold start, and the GPU-only backend.
    assert set(backends_with("needs_model")) == {"transformers", "vlm", "vllm", "diffusers"}
    assert set(backends_with("language_model")) == {"transformers", "vllm", "vlm"}
    assert set(backends_with("text_policy")) == {"transformers", "vllm"}
    assert set(backends_with("trainable")) == {"transformers", "vlm", "vllm"}
    assert set(backends_with("cold_start")) == {"transformers"}
    assert set(backends_with("gpu_only")) == {"vllm"}


@pytest.mark.parametrize("role, backend", sorted(BUILTIN))
@pytest.mark.parametrize("options", [{}, {"engine": "transformers"}, {"engine": "vllm"}])
def test_trainable_agents_are_the_thinkers_and_decomposers_of_the_model_backends(role, backend, options):
    # The transformers verifier is a reward model, trained by GCPO (orchestration.gcpo), not a GRPO policy; a vLLM
    # sampler (backend vllm, or a vlm agent's engine vllm) trains with the rollout correction (train.tis_cap).
    expected = backend in ("transformers", "vlm", "vllm") and role in ("thinker", "decomposer")
    assert builtin_capabilities(role, backend).trainable_with(options) is expected


def test_unknown_pairs_and_capabilities():
    assert builtin_capabilities("sorter", "transformers") is PLAIN  # no such built-in: nothing is assumed
    with pytest.raises(ValueError, match="unknown capability 'trainabel'; use one of needs_model"):
        backends_with("trainabel")


def test_a_new_entry_is_one_line_and_every_derived_set_follows_it(monkeypatch):
    monkeypatch.setitem(BUILTIN, ("editor", "grayscale"), Builtin("mypkg.agents:GrayscaleEditor", Capabilities(needs_model=True)))
    monkeypatch.setitem(BUILTIN, ("decomposer", "echo"), Builtin("mypkg.agents:EchoDecomposer",
                                                                 Capabilities(trainable=True, train_engine="torch")))
    assert "grayscale" in backends_with("needs_model") and "grayscale" not in backends_with("language_model")
    assert builtin_capabilities("decomposer", "echo").trainable_with({})
    assert not builtin_capabilities("decomposer", "echo").trainable_with({"engine": "other"})
    assert trainable_summary().endswith(", or a 'echo' decomposer with engine 'torch'")


def test_the_summary_reads_from_the_registry_it_is_given():
    registry = {("thinker", "a"): Builtin("m:A", Capabilities(trainable=True)), ("sorter", "a"): Builtin("m:B"),
                ("decomposer", "a"): Builtin("m:C", Capabilities(trainable=True))}
    assert trainable_summary(registry) == "a 'a' thinker or decomposer"
    assert trainable_summary({}) == "none"
    assert backends_with("trainable", registry) == ("a",)
