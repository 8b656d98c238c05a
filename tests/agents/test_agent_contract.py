"""The agent contract, checked on every built-in agent by one set of tests (as diffusers' ``PipelineTesterMixin``
checks every pipeline).

Each built-in agent class (every entry of ``agents.registry.BUILTIN``, plus a few option variants) is built on a CPU
without downloads: rule and Canvas agents as they are, model-backed ones on the tiny checkpoints the backend tests
use (a tiny tagged-format LM policy, chat LM and LLaVA, a tiny InstructPix2Pix, all built from configs) and the
shipped cold-started decomposer (``agents/lm/pretrained/decomposer``). vLLM-backed agents are listed too and skipped
where vLLM or a CUDA GPU is absent. Sampling agents run at temperature 0, so their outputs are deterministic; the
untrained tiny chat models get an untied random output head so that their greedy text depends on the input (see
``_untie_output_head``), else act and act_batch would agree trivially.

The checks, on three generated Canvas tasks whose states hold what the upstream roles provide (filled by running
the rule pipeline: thinker, decomposer, sorter, Canvas editor):

- the agent declares its role and backend (``check_agent_class`` passes; the registry resolves it);
- ``act(state)`` returns the output model of the field ``PROVIDES[role]`` (and fits no other role's field), which
  validates and can be stored in the state; the state passed in is not modified;
- ``act_batch(states)`` gives, in order, what ``act`` gives for each state (also for the states reversed);
  ``act_batch([])`` is ``[]``;
- a state without the role's upstream input: thinker, decomposer and editor fall back to the instruction
  (``agents.base.INPUTS``); sorters and verifiers do what their code documents (raise ``ValueError`` naming the
  missing field, or, for the VLM sorter, return empty sub-requests without generating);
- ``describe()`` is a JSON-serialisable dict naming the role, backend and class.

A new built-in agent is added to ``CASES`` (``test_every_builtin_agent_is_listed`` fails until it is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import NoneType
from typing import Any, Callable, get_args

import pytest
import torch

import agents.lm
from agents.base import INPUTS, PROVIDES, ROLES, Agent, AgentOutput, EpisodeState, SubRequests, check_agent_class
from agents.registry import BUILTIN, import_object, resolve_agent_class
from agents.vllm_backend import vllm_available
from envs.canvas.generator import GeneratorConfig, generate_tasks
from envs.editing_env import task_to_state
from envs.image_io import load_image

PRETRAINED_DECOMPOSER = Path(agents.lm.__file__).parent / "pretrained" / "decomposer"
VLLM_OK, VLLM_WHY = vllm_available()


class Models:
    """The tiny checkpoints, each built and saved on first use (nothing is downloaded)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def lm_policy(self) -> str:
        """An untrained tiny policy in the tagged format (as tests/agents/lm/conftest.py builds it)."""
        from agents.lm.model import build_model, save_policy, tiny_causal_lm_config
        from agents.lm.tokenizer import canvas_corpus, train_tokenizer

        tokenizer = train_tokenizer(list(canvas_corpus(30, seed=5)), vocab_size=512)
        model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2), seed=0)
        return str(save_policy(model, tokenizer, self.root / "lm-policy"))

    @cached_property
    def chat_lm(self) -> str:
        from agents.vlm.tiny import save_tiny_chat_lm

        return str(save_tiny_chat_lm(self.root / "tiny-chat"))

    @cached_property
    def vlm(self) -> str:
        from agents.vlm.tiny import save_tiny_vlm

        return str(save_tiny_vlm(self.root / "tiny-llava"))

    @cached_property
    def pix2pix(self) -> str:
        from agents.diffusers_editor import save_tiny_instruct_pix2pix

        return str(save_tiny_instruct_pix2pix(self.root / "tiny-ip2p"))


@dataclass(frozen=True)
class Raises:
    """``act`` raises ``error`` with a message matching ``match``."""

    error: type[Exception]
    match: str


@dataclass(frozen=True)
class Case:
    """One agent under test.

    Attributes:
        id: the test id.
        cls: the class's import path, as its ``BUILTIN`` entry writes it.
        build: builds the agent (CPU, deterministic decoding) from the tiny checkpoints.
        without_upstream: for a role that cannot work from the instruction alone (sorter, verifier): what ``act``
            does on a state without its upstream field, as the class's code documents it.
        vllm: needs vLLM and a CUDA GPU.
    """

    id: str
    cls: str
    build: Callable[[Models], Any]
    without_upstream: Raises | AgentOutput | None = None
    vllm: bool = False


def _rule(path: str, **options: Any) -> Callable[[Models], Any]:
    return lambda models: import_object(path)(**options)  # type: ignore[operator]


def _model_agent(path: str, checkpoint: str, **options: Any) -> Callable[[Models], Any]:
    """Build the agent on a tiny checkpoint (`checkpoint` names a `Models` property) or a path; the untrained tiny
    chat models get an input-dependent output head (`_untie_output_head`)."""

    def build(models: Models) -> Any:
        tiny = hasattr(Models, checkpoint)
        agent = import_object(path)(getattr(models, checkpoint) if tiny else checkpoint, **options)  # type: ignore[operator]
        if tiny and checkpoint != "pix2pix" and getattr(agent, "model", None) is not None:
            _untie_output_head(agent.model)
        return agent

    return build


def _untie_output_head(model: Any, seed: int = 1) -> None:
    """Replace a tiny untrained model's tied output head by an independent random one.

    With tied embeddings an untrained model's greedy completion repeats the prompt's last token ("\\n\\n\\n..."),
    whatever the input, so act and act_batch would agree even if batching mixed up or mis-padded the prompts. An
    independent head makes the completion depend on the whole input.
    """
    head = model.get_output_embeddings()
    generator = torch.Generator().manual_seed(seed)
    head.weight = torch.nn.Parameter(torch.randn(head.weight.shape, generator=generator), requires_grad=False)


GREEDY = {"temperature": 0.0}
SHORT_VLM = {"device": "cpu", "temperature": 0.0, "max_new_tokens": 12}
VLLM_OPTIONS = {"gpu_memory_utilization": 0.15, "max_model_len": 1024}

CASES: list[Case] = [
    Case("rule-thinker", "agents.thinker:RuleThinker", _rule("agents.thinker:RuleThinker")),
    Case("rule-decomposer", "agents.decomposer:RuleDecomposer", _rule("agents.decomposer:RuleDecomposer")),
    Case("rule-sorter", "agents.sorter:RuleSorter", _rule("agents.sorter:RuleSorter"),
         without_upstream=Raises(ValueError, r"needs state\.decomposition")),
    Case("canvas-editor", "agents.editor:CanvasEditor", _rule("agents.editor:CanvasEditor")),
    Case("canvas-editor-multi_turn", "agents.editor:CanvasEditor", _rule("agents.editor:CanvasEditor", mode="multi_turn")),
    Case("canvas-verifier", "agents.verifier:CanvasVerifier", _rule("agents.verifier:CanvasVerifier"),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("canvas-verifier-from_instruction", "agents.verifier:CanvasVerifier",
         _rule("agents.verifier:CanvasVerifier", use_reference=False, derive_from="instruction"),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("canvas-verifier-full_reader", "agents.verifier:CanvasVerifier",
         _rule("agents.verifier:CanvasVerifier", use_reference=False, derive_from="instruction", reader="full"),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("transformers-thinker", "agents.lm.policy:LMThinker",
         _model_agent("agents.lm.policy:LMThinker", "lm_policy", max_new_tokens=16, **GREEDY)),
    Case("transformers-decomposer-pretrained", "agents.lm.policy:LMDecomposer",
         _model_agent("agents.lm.policy:LMDecomposer", str(PRETRAINED_DECOMPOSER), **GREEDY)),
    Case("transformers-verifier", "agents.lm.verifier:LMVerifier",
         _model_agent("agents.lm.verifier:LMVerifier", "lm_policy", max_new_tokens=16, **GREEDY),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("vlm-thinker", "agents.vlm.policy:VLMThinker", _model_agent("agents.vlm.policy:VLMThinker", "vlm", **SHORT_VLM)),
    Case("vlm-thinker-text_only", "agents.vlm.policy:VLMThinker",
         _model_agent("agents.vlm.policy:VLMThinker", "chat_lm", scene_text=True, **SHORT_VLM)),
    Case("vlm-decomposer", "agents.vlm.policy:VLMDecomposer", _model_agent("agents.vlm.policy:VLMDecomposer", "vlm", **SHORT_VLM)),
    # The VLM sorter documents that a state with nothing to order gets empty sub-requests, without generating.
    Case("vlm-sorter", "agents.vlm.policy:VLMSorter", _model_agent("agents.vlm.policy:VLMSorter", "vlm", **SHORT_VLM),
         without_upstream=SubRequests()),
    Case("vlm-verifier", "agents.vlm.policy:VLMVerifier",
         _model_agent("agents.vlm.policy:VLMVerifier", "vlm", answer_tokens=4, **SHORT_VLM),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("vlm-verifier-score", "agents.vlm.policy:VLMVerifier",
         _model_agent("agents.vlm.policy:VLMVerifier", "vlm", mode="score", **SHORT_VLM),
         without_upstream=Raises(ValueError, r"needs state\.edit")),
    Case("diffusers-editor", "agents.diffusers_editor:DiffusersEditor",
         _model_agent("agents.diffusers_editor:DiffusersEditor", "pix2pix", num_inference_steps=1, device="cpu",
                      guidance_scale=3.0, image_guidance_scale=1.2)),
    # GPU only: the same tiny checkpoints as tests/agents/real/test_vllm_backend.py and benchmarks/gpu_smoke.py.
    Case("vllm-thinker", "agents.vllm_backend:VLLMThinker",
         _model_agent("agents.vllm_backend:VLLMThinker", "chat_lm", max_new_tokens=8, **GREEDY, **VLLM_OPTIONS), vllm=True),
    Case("vllm-decomposer", "agents.vllm_backend:VLLMDecomposer",
         _model_agent("agents.vllm_backend:VLLMDecomposer", "chat_lm", max_new_tokens=8, **GREEDY, **VLLM_OPTIONS), vllm=True),
    Case("vlm-thinker-vllm_engine", "agents.vlm.policy:VLMThinker",
         _model_agent("agents.vlm.policy:VLMThinker", "vlm", engine="vllm", temperature=0.0, max_new_tokens=8,
                      vllm_options=VLLM_OPTIONS), vllm=True),
]

ROLE_OF = {entry.path: role for (role, _), entry in BUILTIN.items()}
BACKEND_OF = {entry.path: backend for (_, backend), entry in BUILTIN.items()}
GPU_ONLY = {entry.path for entry in BUILTIN.values() if entry.capabilities.gpu_only}


def _params() -> list[Any]:
    marks = lambda c: [pytest.mark.skip(reason=f"vLLM agent needs vLLM and a CUDA GPU: {VLLM_WHY}")] if c.vllm and not VLLM_OK else []  # noqa: E731
    return [pytest.param(c, id=c.id, marks=marks(c)) for c in CASES]


def _field_type(field: str) -> type:
    """The output model stored in an `EpisodeState` field (`Plan | None` -> `Plan`)."""
    (model,) = [a for a in get_args(EpisodeState.model_fields[field].annotation) if a is not NoneType]
    return model


# -- fixtures -------------------------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Models:
    return Models(tmp_path_factory.mktemp("contract-models"))


@pytest.fixture(scope="module")
def built(models) -> Callable[[Case], Any]:
    """Each agent built once per module, on first use."""
    cache: dict[str, Any] = {}

    def get(case: Case) -> Any:
        if case.id not in cache:
            cache[case.id] = case.build(models)
        return cache[case.id]

    return get


@pytest.fixture(scope="module")
def full_states() -> list[EpisodeState]:
    """Three Canvas tasks run through the rule pipeline; the last one without a reference checklist (a verifier then
    writes or derives its own)."""
    from agents.decomposer import RuleDecomposer
    from agents.editor import CanvasEditor
    from agents.sorter import RuleSorter
    from agents.thinker import RuleThinker
    from agents.verifier import CanvasVerifier

    upstream = {"thinker": RuleThinker(), "decomposer": RuleDecomposer(), "sorter": RuleSorter(), "editor": CanvasEditor(),
                "verifier": CanvasVerifier()}
    states = []
    for k, task in enumerate(generate_tasks(3, seed=7, split="test", cfg=GeneratorConfig(size=64))):
        state = task_to_state(task)
        if k == 2:
            state = state.model_copy(update={"checklist": None})
        for role in ROLES:
            state = state.model_copy(update={PROVIDES[role]: upstream[role].act(state)})
        states.append(state)
    assert any(s.decomposition.components for s in states) and any(s.edit.applied for s in states)
    return states


def _inputs(states: list[EpisodeState], role: str) -> list[EpisodeState]:
    """The states as `role` receives them: what the roles before it provide, nothing after."""
    later = {PROVIDES[r]: None for r in ROLES[ROLES.index(role):]}
    return [s.model_copy(update=later) for s in states]


def _bare(states: list[EpisodeState]) -> list[EpisodeState]:
    """The states with no agent output at all (the instruction, image and reference data only)."""
    return [s.model_copy(update={f: None for f in PROVIDES.values()}) for s in states]


# -- the registry ---------------------------------------------------------------------------------------------------


def test_every_builtin_agent_is_listed():
    listed = {c.cls for c in CASES}
    paths = {entry.path for entry in BUILTIN.values()}
    missing = sorted(paths - listed)
    assert not missing, f"add a Case for each new built-in agent to CASES in {__file__}: {missing}"
    assert listed <= paths, "every Case names a class of agents.registry.BUILTIN"
    unmarked = sorted(c.id for c in CASES if c.cls in GPU_ONLY and not c.vllm)
    assert not unmarked, f"the registry declares these gpu_only; mark their Cases vllm=True so CPU runs skip them: {unmarked}"


# -- the contract, for every agent ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params())
class TestAgentContract:
    def test_declares_its_role_and_backend(self, case, built):
        agent = built(case)
        role, backend = ROLE_OF[case.cls], BACKEND_OF[case.cls]
        assert agent.role in ROLES and agent.role == role
        assert agent.backend == backend
        check_agent_class(type(agent), case.id)
        assert resolve_agent_class(case.id, role, backend, None) is type(agent)
        assert isinstance(agent, Agent)

    def test_act_returns_the_output_of_its_role(self, case, built, full_states):
        agent = built(case)
        field = PROVIDES[agent.role]
        for state in _inputs(full_states, agent.role):
            before = state.model_dump()
            out = agent.act(state)
            assert state.model_dump() == before, "act must not modify the state it is given"
            # The model of exactly its role's field (the output types are distinct, so no other field takes it).
            assert [f for f in PROVIDES.values() if isinstance(out, _field_type(f))] == [field]
            assert type(out).model_validate(out.model_dump()) == out
            stored = EpisodeState.model_validate({**state.model_dump(), field: out.model_dump()})
            assert getattr(stored, field) == out
            ROLE_CHECKS[agent.role](state, out)

    def test_act_batch_agrees_with_act(self, case, built, full_states):
        agent = built(case)
        states = _inputs(full_states, agent.role)
        before = [s.model_dump() for s in states]
        single = [agent.act(s) for s in states]
        batch = agent.act_batch(states)
        assert [s.model_dump() for s in states] == before, "act_batch must not modify the states it is given"
        assert isinstance(batch, list) and len(batch) == len(states)
        for k, (one, many) in enumerate(zip(single, batch)):
            assert one == many, f"state {k}: act gave {one!r}, act_batch gave {many!r}"
        assert agent.act_batch(states[::-1]) == single[::-1]
        assert agent.act(states[0]) == single[0], "act must not depend on earlier calls"

    def test_act_batch_of_nothing_is_empty(self, case, built):
        assert built(case).act_batch([]) == []

    def test_state_without_upstream_input(self, case, built, full_states):
        agent = built(case)
        bare = _bare(full_states)
        if "instruction" in INPUTS[agent.role]:
            # The instruction is always there: the role works from it alone (agents.base.INPUTS).
            assert case.without_upstream is None
            for out in [agent.act(bare[0]), *agent.act_batch(bare[:2])]:
                assert isinstance(out, _field_type(PROVIDES[agent.role]))
            return
        assert case.without_upstream is not None, f"{case.id}: say what act does without {INPUTS[agent.role]}"
        if isinstance(case.without_upstream, Raises):
            expected = case.without_upstream
            with pytest.raises(expected.error, match=expected.match):
                agent.act(bare[0])
            # One bad state fails the batch: no silent partial result.
            good = _inputs(full_states, agent.role)[0]
            with pytest.raises(expected.error, match=expected.match):
                agent.act_batch([good, bare[1]])
        else:
            assert agent.act(bare[0]) == case.without_upstream
            assert agent.act_batch(bare[:2]) == [case.without_upstream] * 2
            good = _inputs(full_states, agent.role)[0]
            assert agent.act_batch([good, bare[1]]) == [agent.act(good), case.without_upstream]

    def test_describe_names_role_backend_and_class(self, case, built):
        agent = built(case)
        info = agent.describe()
        assert isinstance(info, dict)
        assert info["role"] == agent.role and info["backend"] == agent.backend
        assert info["class"] == f"{type(agent).__module__}.{type(agent).__qualname__}"
        json.dumps(info)  # GET /v1/agents and `editrl edit` show it


# -- role-specific invariants of an output ----------------------------------------------------------------------------


def _thinker(state: EpisodeState, plan: Any) -> None:
    assert isinstance(plan.text, str) and isinstance(plan.think, str)


def _decomposer(state: EpisodeState, decomposition: Any) -> None:
    assert all(c.action for c in decomposition.components)
    if decomposition.well_formed is True and decomposition.raw is not None:
        assert decomposition.components, "a well-formed LM decomposition has at least one component"


def _sorter(state: EpisodeState, subrequests: Any) -> None:
    # Every component once, each with its request.
    assert sorted(subrequests.order) == list(range(len(state.decomposition.components)))
    assert len(subrequests.items) == len(subrequests.order)


def _editor(state: EpisodeState, edit: Any) -> None:
    assert load_image(edit.image_png).size == load_image(state.source_png).size
    assert edit.calls >= 0


def _verifier(state: EpisodeState, verdict: Any) -> None:
    assert verdict.passed == (bool(verdict.items) and all(i.passed for i in verdict.items))
    assert verdict.passed or verdict.feedback, "a failed verdict says what failed"


ROLE_CHECKS: dict[str, Callable[[EpisodeState, Any], None]] = {
    "thinker": _thinker, "decomposer": _decomposer, "sorter": _sorter, "editor": _editor, "verifier": _verifier,
}
