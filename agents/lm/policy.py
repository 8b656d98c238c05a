"""Language-model agents for the graph: the thinker (plan) and the decomposer (components) on a transformers LM.

Each agent owns a causal LM and its tokenizer, loaded by :func:`agents.lm.model.load_policy` from a directory or a
hub name (the tiny cold-started policy and a user's pretrained model take the same path). ``act_batch`` builds one
prompt per episode (instruction + perceived scene, plus the plan or feedback when the state has them), samples all
completions in one batched call, and parses them with :func:`rewards.parsing.parse_tagged`. Parsing never raises:
an output that does not follow the format gives ``well_formed=False`` and whatever well-formed components it has.

For GRPO, :meth:`LMAgent.sample` returns the parsed outputs together with the :class:`GenerationOutput` (token ids
and old log-probs), and :meth:`get_weights` / :meth:`set_weights` move CPU state dicts between learner and actors.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from agents.base import Agent, AgentOutput, Decomposition, EpisodeState, Plan
from agents.lm.generation import GenerationOutput, generate
from agents.lm.prompts import build_prompt, scene_text
from envs.task import ComponentSpec
from rewards.parsing import parse_tagged

__all__ = ["LMAgent", "LMThinker", "LMDecomposer", "parse_plan", "parse_decomposition"]

_TAG = re.compile(r"</?(?:think|answer|action|subject|target)>")


def parse_plan(text: str) -> Plan:
    """A :class:`Plan` from a raw thinker completion; never raises.

    The plan is the answer block; without one, the completion with any format tags removed (a plain-text plan from
    a pretrained model is still a plan; an untrained model's noise stays visible, and the rewards judge it).

    >>> parse_plan("<think>one step</think><answer>\\nMake the star red.\\n</answer>").text
    'Make the star red.'
    >>> parse_plan("Make the star red.").text
    'Make the star red.'
    """
    parsed = parse_tagged(text)
    body = parsed.answer if parsed.answer is not None else _TAG.sub(" ", text)
    return Plan(text=" ".join(body.split()), think=(parsed.think or "").strip(), raw=text)


def parse_decomposition(text: str) -> Decomposition:
    """A :class:`Decomposition` from a raw decomposer completion; never raises.

    ``well_formed`` is True only for a clean envelope with at least one component and no malformed chunk
    (:attr:`rewards.parsing.ParsedOutput.components_well_formed`); the components are the well-formed ones either
    way, so one broken line does not lose the rest.

    >>> d = parse_decomposition("<think>1 edit</think><answer><action>remove</action><subject>the star</subject><target></target></answer>")
    >>> d.well_formed, d.components[0].action, d.components[0].subject, d.components[0].target
    (True, 'remove', ['the star'], [])
    >>> parse_decomposition("garbage <action>").well_formed
    False
    """
    parsed = parse_tagged(text)
    components = [ComponentSpec(action=c.action, subject=list(c.subject), target=list(c.target)) for c in parsed.components]
    return Decomposition(components=components, think=(parsed.think or "").strip(), raw=text, well_formed=parsed.components_well_formed)


class LMAgent(Agent):
    """Base class of the transformers-LM agents: loading, prompting, batched sampling, weight sync.

    Args:
        model: a directory written by :func:`agents.lm.model.save_policy` (or any ``save_pretrained``), or a hub name.
        device: where the model runs.
        temperature: sampling temperature; 0 decodes greedily. Default 1.0: the agent is a policy, and GRPO's
            old log-probs are those of the distribution it samples from (set 0 for deterministic serving).
        max_new_tokens: the longest completion (the default fits a 4-step decomposition with room to spare).
        seed: seeds the agent's own random generator: a fresh agent with the same seed makes the same samples.
        top_p: nucleus sampling threshold (1 disables it).
        dtype: parameter dtype (float32 by default; see :func:`agents.lm.model.load_policy`).
    """

    role: ClassVar[str]
    backend: ClassVar[str] = "transformers"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        temperature: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
        top_p: float = 1.0,
        dtype: torch.dtype | str = torch.float32,
    ) -> None:
        from agents.lm.model import load_policy

        lm, tokenizer = load_policy(model, device=device, dtype=dtype)
        self._init(lm, tokenizer, str(model), device, temperature, max_new_tokens, seed, top_p)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str = "<in-memory>", temperature: float = 1.0,
                   max_new_tokens: int = 128, seed: int = 0, top_p: float = 1.0) -> "LMAgent":
        """An agent around an already-loaded model and tokenizer (e.g. the learner's copy, or a test model)."""
        agent = cls.__new__(cls)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.eval()
        agent._init(model, tokenizer, name, str(next(model.parameters()).device), temperature, max_new_tokens, seed, top_p)
        return agent

    def _init(self, model: Any, tokenizer: Any, name: str, device: str, temperature: float, max_new_tokens: int,
              seed: int, top_p: float) -> None:
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = name
        self.device = device
        self.temperature = float(temperature)
        self.max_new_tokens = int(max_new_tokens)
        self.top_p = float(top_p)
        self.seed = int(seed)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        # Perception of one source image is reused across rounds and GRPO group members; bounded so a long-lived
        # actor does not grow without limit.
        self._scenes: OrderedDict[bytes, str] = OrderedDict()

    # -- prompts and parsing (role-specific) ------------------------------------------------------------------------

    def prompt(self, state: EpisodeState) -> str:
        """The prompt for one episode."""
        raise NotImplementedError

    def parse(self, text: str) -> AgentOutput:
        """The agent's output model for one raw completion; never raises."""
        raise NotImplementedError

    def scene(self, state: EpisodeState) -> str:
        """What perception sees in the episode's source image, as text (cached per image)."""
        key = state.source_png
        if key not in self._scenes:
            self._scenes[key] = scene_text(key)
            if len(self._scenes) > 256:
                self._scenes.popitem(last=False)
        return self._scenes[key]

    # -- acting -----------------------------------------------------------------------------------------------------

    def sample(self, states: Sequence[EpisodeState], num_return_sequences: int = 1, *, temperature: float | None = None,
               max_new_tokens: int | None = None, greedy_per_prompt: int = 0) -> tuple[list[AgentOutput], GenerationOutput]:
        """Sample ``num_return_sequences`` completions per state in one batch.

        Returns the parsed outputs (state-major: the group of state ``i`` is rows ``i*n .. i*n+n-1``) and the
        :class:`GenerationOutput` with token ids and old log-probs for the learner. With ``greedy_per_prompt`` the
        first that many rows of each group are the greedy completion (:func:`agents.lm.generation.generate`).
        """
        if not states:
            raise ValueError("states is empty")
        temp = self.temperature if temperature is None else temperature
        out = generate(
            self.model,
            self.tokenizer,
            [self.prompt(s) for s in states],
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            do_sample=temp > 0,
            temperature=temp if temp > 0 else 1.0,
            top_p=self.top_p,
            num_return_sequences=num_return_sequences,
            generator=self.generator,
            greedy_per_prompt=greedy_per_prompt,
        )
        return [self.parse(text) for text in out.texts], out

    def act_batch(self, states: Sequence[EpisodeState]) -> list[AgentOutput]:
        """One output per state, generated in one batch."""
        if not states:
            return []
        outputs, _ = self.sample(states)
        return outputs

    def act(self, state: EpisodeState) -> AgentOutput:
        return self.act_batch([state])[0]

    # -- weights ----------------------------------------------------------------------------------------------------

    def get_weights(self) -> dict[str, torch.Tensor]:
        """The model's state dict as detached CPU tensors (safe to send between processes)."""
        return {name: tensor.detach().to("cpu", copy=True) for name, tensor in self.model.state_dict().items()}

    def set_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a full state dict (e.g. from the learner); every key must match (a partial sync is a bug)."""
        self.model.load_state_dict(dict(state_dict), strict=True)
        self.model.eval()

    def describe(self) -> dict[str, Any]:
        from agents.lm.model import count_parameters

        return {
            **super().describe(),
            "model": self.model_name,
            "device": self.device,
            "parameters": count_parameters(self.model),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
        }


class LMThinker(LMAgent):
    """Thinker: rewrites the instruction into an explicit plan, ``<think>…</think><answer>plan</answer>``.

    Reads the instruction, the perceived scene, and the verifier's feedback in reflection rounds.
    """

    role: ClassVar[str] = "thinker"

    def prompt(self, state: EpisodeState) -> str:
        return build_prompt("thinker", state.instruction, self.scene(state), feedback=state.feedback)

    def parse(self, text: str) -> Plan:
        return parse_plan(text)


class LMDecomposer(LMAgent):
    """Decomposer: lists the edit components, ``<think>…</think><answer><action>…</action>…</answer>``.

    Reads the instruction, the perceived scene, and the thinker's plan when the graph has a thinker.
    """

    role: ClassVar[str] = "decomposer"

    def prompt(self, state: EpisodeState) -> str:
        return build_prompt("decomposer", state.instruction, self.scene(state), plan=state.plan.text if state.plan else None)

    def parse(self, text: str) -> Decomposition:
        return parse_decomposition(text)
