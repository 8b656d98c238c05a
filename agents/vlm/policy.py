"""Chat-model agents for the thinker, decomposer, sorter and verifier roles: any VLM (it sees the images) or any
causal LM with a chat template (text only), loaded by :func:`agents.vlm.model.load_chat_model`.

Config (backend ``vlm``)::

    agents:
      decomposer:
        backend: vlm
        model: Qwen/Qwen2.5-VL-7B-Instruct     # or a local directory written by save_pretrained
        options: {device: cuda, dtype: bfloat16, temperature: 0.0, max_new_tokens: 256}

What each role reads and writes (the input precedence of the Canvas agents):

- :class:`VLMThinker`: source image + instruction (+ verifier feedback in reflection rounds) -> :class:`Plan`.
- :class:`VLMDecomposer`: source image + instruction (+ the thinker's plan) -> :class:`Decomposition`.
- :class:`VLMSorter`: source image + instruction + the decomposition -> :class:`SubRequests` (every component
  appears once: ones the model leaves out are appended in written order, so an untrained model still yields a
  complete, if unordered, list).
- :class:`VLMVerifier`: source and edited images -> :class:`Verdict`, in one of two modes. ``checklist``: the task's
  reference checklist (``use_reference``) or one the model writes from the instruction (and plan and reference
  description), then one yes/no answer per item; the score is the fraction answered as expected (unknown fails).
  ``score``: 1-5 per dimension as KRIS-Bench / RISEBench judges do; the score is the mean of (s - 1) / 4 and an item
  passes at ``pass_score`` or more.

Parsing never raises: an untrained model's noise gives ``well_formed=False``, empty plans, answers ``"unknown"``.

For the learner (GRPO trains a VLM thinker or decomposer through :mod:`orchestration.grpo` and its ``VLMModule``):
:meth:`VLMPolicy.sample` returns the parsed outputs and a :class:`agents.vlm.generation.VLMGenerationOutput` (prompt
and completion token ids, masks, the old log-prob of each completion token, and the prompts and images);
:meth:`VLMPolicy.completion_logprobs` recomputes the completion log-probs by teacher forcing, with gradients, so a
loss can be put on completion tokens only;
:meth:`VLMAgent.get_weights` / :meth:`VLMAgent.set_weights` move CPU state dicts between learner and actors.

``engine: vllm`` generates with vLLM instead (:mod:`agents.vllm_backend`, GPU only); weights then arrive through
``set_weights`` (vLLM's ``load_weights``) and the learner keeps its own transformers copy for teacher forcing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from agents.base import Agent, AgentOutput, Decomposition, EpisodeState, Plan, SubRequests, Verdict, VerdictItem
from agents.vlm import parsing, prompts
from agents.vlm.generation import VLMGenerationOutput

__all__ = ["VLMAgent", "VLMPolicy", "VLMThinker", "VLMDecomposer", "VLMSorter", "VLMVerifier", "ENGINES"]

ENGINES = ("transformers", "vllm")
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


class VLMAgent(Agent):
    """Base of the chat-model agents: loading, prompts with images, batched generation, weight sync.

    Args:
        model: a local directory (``save_pretrained``) or a hub name: a VLM (image-text-to-text) or a causal LM with
            a chat template.
        device: ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        dtype: ``"auto"`` (bfloat16 on a GPU, float32 on a CPU), ``"float32"``, ``"bfloat16"``, ``"float16"``.
        temperature: sampling temperature, 0 for greedy decoding; default per role (1.0 for the trainable thinker
            and decomposer, whose old log-probs must be those of the distribution they sample from; 0.0 for the
            sorter and the verifier, which should be deterministic).
        top_p: nucleus sampling threshold (1 disables it).
        max_new_tokens: the longest completion; default per role.
        seed: seeds the agent's own generator; each call draws its sampling seed from it, so a fresh agent with the
            same seed makes the same samples.
        engine: ``"transformers"`` (``model.generate``) or ``"vllm"`` (GPU only; :mod:`agents.vllm_backend`).
        image_max_side: downscale images whose longer side exceeds this before the processor sees them (None: leave
            sizing to the processor, e.g. Qwen2-VL's ``max_pixels``).
        scene_text: for a text-only model in the Canvas world: describe each image with Canvas perception in the
            prompt (it cannot see pixels otherwise). Ignored for VLMs.
        vllm_options: keyword arguments for :class:`agents.vllm_backend.VLLMEngine` (``gpu_memory_utilization``,
            ``max_model_len``, ...) when ``engine`` is ``"vllm"``.
    """

    role: ClassVar[str]
    backend: ClassVar[str] = "vlm"
    default_temperature: ClassVar[float] = 1.0
    default_max_new_tokens: ClassVar[int] = 256

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        temperature: float | None = None,
        top_p: float = 1.0,
        max_new_tokens: int | None = None,
        seed: int = 0,
        engine: str = "transformers",
        image_max_side: int | None = None,
        scene_text: bool = False,
        vllm_options: Mapping[str, Any] | None = None,
    ) -> None:
        from agents.vlm.model import is_vlm_checkpoint, load_chat_model, load_chat_processor, resolve_device

        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        temperature = self.default_temperature if temperature is None else float(temperature)
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if image_max_side is not None and int(image_max_side) < 8:
            raise ValueError(f"image_max_side must be at least 8 pixels, got {image_max_side}")
        self.engine_name = engine
        self.engine: Any = None
        if engine == "vllm":
            from agents.vllm_backend import VLLMEngine

            VLLMEngine.check_available()  # the clear error on a machine without vLLM or a GPU, before any loading
            self.is_vlm = is_vlm_checkpoint(model)
            self.processor = load_chat_processor(model, self.is_vlm)
            self.model = None
            self.engine = VLLMEngine(model, dtype=dtype, seed=seed, **dict(vllm_options or {}))
            self.device = "cuda"
        else:
            chat = load_chat_model(model, device=device, dtype=dtype)
            self.model, self.processor, self.is_vlm = chat.model, chat.processor, chat.is_vlm
            self.device = resolve_device(device)
        self.model_name = str(model)
        self.temperature = temperature
        self.top_p = float(top_p)
        self.max_new_tokens = max_new_tokens
        self.seed = int(seed)
        self.image_max_side = int(image_max_side) if image_max_side is not None else None
        self.scene_text = bool(scene_text)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        # One generation at a time: `editrl eval --no-ray` calls an in-process agent from several threads, and the
        # seed draw, the processor's padding side and the RNG fork are per-call state.
        self._lock = threading.Lock()

    # -- inputs -----------------------------------------------------------------------------------------------------

    def image(self, png: bytes) -> Any:
        """A PNG (or any encoded image) as an RGB PIL image, downscaled to ``image_max_side`` when set."""
        from PIL import Image

        from envs.image_io import load_image

        img = load_image(png)
        if self.image_max_side is not None and max(img.size) > self.image_max_side:
            scale = self.image_max_side / max(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
        return img

    def messages(self, text: str, images: Sequence[bytes], labels: Sequence[str] = ()) -> tuple[list[dict[str, Any]], list[Any]]:
        """One user turn: the images (placeholders, for a VLM) before the text; returns ``(messages, PIL images)``.

        A text-only model gets no images; with ``scene_text`` each image is described by Canvas perception instead.
        """
        if self.is_vlm:
            content: list[dict[str, Any]] = [{"type": "image"} for _ in images]
            content.append({"type": "text", "text": text})
            return [{"role": "user", "content": content}], [self.image(png) for png in images]
        if self.scene_text and images:
            from agents.lm.prompts import scene_text

            names = list(labels) + [f"image {i + 1}" for i in range(len(labels), len(images))]
            described = "\n".join(f"{name.capitalize()} (as perceived): {scene_text(png)}" for name, png in zip(names, images))
            text = f"{described}\n{text}"
        return [{"role": "user", "content": text}], []

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The chat-templated prompt text, ending where the assistant's turn begins."""
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    # -- generation -------------------------------------------------------------------------------------------------

    def _call_seed(self) -> int:
        return int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))

    def generate(self, prompts_: Sequence[str], images: Sequence[Sequence[Any]], *, num_return_sequences: int = 1,
                 temperature: float | None = None, max_new_tokens: int | None = None) -> VLMGenerationOutput:
        """Completions for chat-templated prompts and their images, with the engine this agent was built with."""
        from agents.vlm.generation import generate_chat

        temp = self.temperature if temperature is None else float(temperature)
        with self._lock:
            kwargs = dict(max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=temp > 0,
                          temperature=temp if temp > 0 else 1.0, top_p=self.top_p,
                          num_return_sequences=num_return_sequences, seed=self._call_seed())
            if self.engine is not None:
                return self.engine.generate_chat(self.processor, list(prompts_), [list(i) for i in images], **kwargs)
            return generate_chat(self.model, self.processor, list(prompts_), [list(i) for i in images] if self.is_vlm else None, **kwargs)

    # -- weights ----------------------------------------------------------------------------------------------------

    def get_weights(self) -> dict[str, torch.Tensor]:
        """The model's state dict as detached CPU tensors."""
        if self.model is None:
            raise RuntimeError("this agent generates with vLLM and holds no transformers model; take weights from the learner")
        return {name: t.detach().to("cpu", copy=True) for name, t in self.model.state_dict().items()}

    def set_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a full state dict from the learner (strict: a partial sync is a bug); with vLLM, ``load_weights``."""
        if self.engine is not None:
            self.engine.load_weights(state_dict)
            return
        self.model.load_state_dict(dict(state_dict), strict=True)
        self.model.eval()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {**super().describe(), "model": self.model_name, "engine": self.engine_name,
                                "device": self.device, "vlm": self.is_vlm, "temperature": self.temperature,
                                "top_p": self.top_p, "max_new_tokens": self.max_new_tokens, "seed": self.seed}
        if self.model is not None:
            from agents.lm.model import count_parameters

            info["parameters"] = count_parameters(self.model)
        return info


class VLMPolicy(VLMAgent):
    """A role whose output is one completion per episode: thinker, decomposer, sorter (the trainable kind).

    Subclasses define :meth:`user_text` and :meth:`parse`.
    """

    def user_text(self, state: EpisodeState) -> str:
        raise NotImplementedError

    def inputs(self, state: EpisodeState) -> tuple[str, list[Any]]:
        """The chat-templated prompt and its images (the source image) for one episode."""
        messages, images = self.messages(self.user_text(state), [state.source_png], ["the image"])
        return self.render(messages), images

    def prompt(self, state: EpisodeState) -> str:
        """The chat-templated prompt text (the images go alongside; see :meth:`inputs`)."""
        return self.inputs(state)[0]

    def parse(self, text: str, state: EpisodeState | None = None) -> AgentOutput:
        """The role's output model for one raw completion; never raises."""
        raise NotImplementedError

    def sample(self, states: Sequence[EpisodeState], num_return_sequences: int = 1, *, temperature: float | None = None,
               max_new_tokens: int | None = None) -> tuple[list[AgentOutput], VLMGenerationOutput]:
        """Sample ``num_return_sequences`` completions per state in one batch.

        Returns the parsed outputs (state-major: the group of state ``i`` is rows ``i*n .. i*n+n-1``) and the
        :class:`VLMGenerationOutput` (token ids, masks, old log-probs, prompts and images) for the learner.
        """
        if not states:
            raise ValueError("states is empty")
        pairs = [self.inputs(s) for s in states]
        out = self.generate([p for p, _ in pairs], [i for _, i in pairs], num_return_sequences=num_return_sequences,
                            temperature=temperature, max_new_tokens=max_new_tokens)
        outputs = [self.parse(text, states[int(k)]) for text, k in zip(out.texts, out.prompt_index.tolist())]
        return outputs, out

    def completion_logprobs(self, batch: VLMGenerationOutput, rows: Sequence[int] | torch.Tensor | None = None,
                            temperature: float | None = None) -> torch.Tensor:
        """Teacher-forced log-probs ``[len(rows), T]`` of ``batch``'s completions under the current weights, with
        gradients unless disabled; 0 on masked positions (see :func:`agents.vlm.generation.completion_logprobs`)."""
        if self.model is None:
            raise RuntimeError("this agent generates with vLLM; compute log-probs on the learner's transformers copy")
        from agents.vlm.generation import completion_logprobs

        return completion_logprobs(self.model, self.processor, batch, rows, temperature=temperature)

    def act_batch(self, states: Sequence[EpisodeState]) -> list[AgentOutput]:
        if not states:
            return []
        return self.sample(states)[0]

    def act(self, state: EpisodeState) -> AgentOutput:
        return self.act_batch([state])[0]


def _think(text: str) -> str:
    match = _THINK.search(text) if isinstance(text, str) else None
    return match.group(1).strip() if match else ""


class VLMThinker(VLMPolicy):
    """Thinker: source image + instruction (+ feedback) -> an explicit plan."""

    role: ClassVar[str] = "thinker"

    def user_text(self, state: EpisodeState) -> str:
        return prompts.thinker_text(state.instruction, state.feedback)

    def parse(self, text: str, state: EpisodeState | None = None) -> Plan:
        return Plan(text=parsing.parse_plan_text(text), think=_think(text), raw=text)


class VLMDecomposer(VLMPolicy):
    """Decomposer: source image + instruction (+ plan) -> ImageEdit-R1 components."""

    role: ClassVar[str] = "decomposer"

    def user_text(self, state: EpisodeState) -> str:
        return prompts.decomposer_text(state.instruction, state.plan.text if state.plan is not None else None)

    def parse(self, text: str, state: EpisodeState | None = None) -> Decomposition:
        from agents.lm.policy import parse_decomposition

        return parse_decomposition(text if isinstance(text, str) else "")


def _request_for(component: Any) -> str:
    """A component written as a single-step request, e.g. 'make the red car blue'."""
    try:
        from agents.canvas_language import to_explicit_clause

        return to_explicit_clause(component)
    except Exception:  # noqa: BLE001 - a free-form component the Canvas wording does not cover
        target = f" to {', '.join(component.target)}" if component.target else ""
        return f"{component.action} {', '.join(component.subject)}{target}".strip()


class VLMSorter(VLMPolicy):
    """Sorter: source image + instruction + components -> sub-requests in execution order."""

    role: ClassVar[str] = "sorter"
    default_temperature: ClassVar[float] = 0.0

    def user_text(self, state: EpisodeState) -> str:
        comps = state.decomposition.components if state.decomposition is not None else []
        return prompts.sorter_text(state.instruction, [(c.action, c.subject, c.target) for c in comps])

    def parse(self, text: str, state: EpisodeState | None = None) -> SubRequests:
        comps = list(state.decomposition.components) if state is not None and state.decomposition is not None else []
        if state is None:  # no components to check against: take the numbered lines as they are
            pairs = parsing.parse_order(text, 999)
            return SubRequests(items=[t for _, t in pairs if t], order=[i for i, t in pairs if t])
        pairs = parsing.parse_order(text, len(comps))
        seen = {i for i, _ in pairs}
        pairs += [(i, "") for i in range(len(comps)) if i not in seen]
        return SubRequests(items=[t or _request_for(comps[i]) for i, t in pairs], order=[i for i, _ in pairs])

    def act_batch(self, states: Sequence[EpisodeState]) -> list[AgentOutput]:
        # Nothing to order: no generation (the editor then falls back to the plan or the instruction).
        out: list[AgentOutput | None] = [SubRequests() if not (s.decomposition and s.decomposition.components) else None for s in states]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            for i, output in zip(todo, self.sample([states[i] for i in todo])[0]):
                out[i] = output
        return out  # type: ignore[return-value]


class VLMVerifier(VLMAgent):
    """Verifier: a checklist answered yes/no by the model, or 1-5 scores per dimension (module docstring).

    Args:
        mode: ``"checklist"`` or ``"score"``.
        use_reference: use the task's reference checklist when it has one (checklist mode). Set False to evaluate
            reflection honestly: a reference checklist spells out the ideal result.
        max_questions: the most questions the model may write for its own checklist.
        keep_question: add "Apart from the requested change, is the rest of the image unchanged?" (group ``keep``)
            to a checklist the model writes.
        compare_source: show the source image next to the edited one when answering (False: the edited one only,
            for models that take a single image).
        dimensions: score-mode dimensions, from ``instruction``, ``consistency``, ``quality``, ``knowledge``
            (KRIS-Bench adds ``knowledge``; RISEBench uses the first three).
        pass_score: in score mode, a dimension passes at this score or more (RISEBench counts a sample solved only at
            5 on every dimension: set 5 to match it).
        answer_tokens: the longest yes/no answer (a short budget keeps the checklist cheap).
        batch_size: the most prompts generated in one call.
        **kwargs: see :class:`VLMAgent`.
    """

    role: ClassVar[str] = "verifier"
    default_temperature: ClassVar[float] = 0.0
    default_max_new_tokens: ClassVar[int] = 256
    KEEP_QUESTION: ClassVar[str] = "Apart from the requested change, is the rest of the image unchanged?"

    def __init__(self, model: str, mode: str = "checklist", use_reference: bool = True, max_questions: int = 6,
                 keep_question: bool = True, compare_source: bool = True,
                 dimensions: Sequence[str] = ("instruction", "consistency", "quality"), pass_score: int = 4,
                 answer_tokens: int = 16, batch_size: int = 16, **kwargs: Any) -> None:
        if mode not in ("checklist", "score"):
            raise ValueError(f"verifier mode must be 'checklist' or 'score', got {mode!r}")
        unknown = [d for d in dimensions if d not in prompts.SCORE_DIMENSIONS]
        if unknown or not dimensions:
            raise ValueError(f"unknown score dimension(s) {unknown or '(none given)'}; choose from {', '.join(prompts.SCORE_DIMENSIONS)}")
        if not 1 <= int(pass_score) <= 5:
            raise ValueError(f"pass_score must be in 1..5, got {pass_score}")
        if int(max_questions) < 1 or int(answer_tokens) < 1 or int(batch_size) < 1:
            raise ValueError("max_questions, answer_tokens and batch_size must be at least 1")
        super().__init__(model, **kwargs)
        if not self.is_vlm and not self.scene_text:
            raise ValueError(f"{model} is a text-only model and cannot see the edited image; use a VLM, or set "
                             "options.scene_text: true to describe Canvas images with perception")
        self.mode = mode
        self.use_reference = bool(use_reference)
        self.max_questions = int(max_questions)
        self.keep_question = bool(keep_question)
        self.compare_source = bool(compare_source)
        self.dimensions = tuple(dimensions)
        self.pass_score = int(pass_score)
        self.answer_tokens = int(answer_tokens)
        self.batch_size = int(batch_size)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "mode": self.mode, "use_reference": self.use_reference,
                "dimensions": list(self.dimensions) if self.mode == "score" else None}

    # -- generation in chunks ---------------------------------------------------------------------------------------

    def _texts(self, requests: list[tuple[str, list[bytes], list[str]]], max_new_tokens: int) -> list[str]:
        """One completion per ``(text, images, image labels)`` request, generated ``batch_size`` at a time."""
        out: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            rendered = [self.messages(text, images, labels) for text, images, labels in chunk]
            gen = self.generate([self.render(m) for m, _ in rendered], [i for _, i in rendered], max_new_tokens=max_new_tokens)
            out.extend(gen.texts)
        return out

    def _edited_images(self, state: EpisodeState) -> tuple[list[bytes], list[str]]:
        assert state.edit is not None
        if self.compare_source:
            return [state.source_png, state.edit.image_png], ["the original image", "the edited image"]
        return [state.edit.image_png], ["the edited image"]

    # -- checklist mode ---------------------------------------------------------------------------------------------

    def checklists(self, states: Sequence[EpisodeState]) -> list[list[dict[str, Any]]]:
        """Checklist items ``{question, expected, group}`` per state: the reference ones, or written by the model."""
        items: list[list[dict[str, Any]] | None] = [None] * len(states)
        todo: list[int] = []
        for k, state in enumerate(states):
            if self.use_reference and state.checklist:
                items[k] = [{"question": c.question, "expected": c.expected, "group": c.group} for c in state.checklist]
            else:
                todo.append(k)
        requests = [(prompts.checklist_text(states[k].instruction, states[k].plan.text if states[k].plan else None,
                                            states[k].reference, self.max_questions), [states[k].source_png], ["the image"])
                    for k in todo]
        for k, text in zip(todo, self._texts(requests, self.max_new_tokens)):
            questions = parsing.parse_questions(text, self.max_questions)
            if not questions:  # the model wrote no usable question: ask about the request itself
                questions = [f"Was the instruction '{' '.join(states[k].instruction.split())}' carried out?"]
            found = [{"question": q, "expected": "yes", "group": "follow"} for q in questions]
            if self.keep_question:
                found.append({"question": self.KEEP_QUESTION, "expected": "yes", "group": "keep"})
            items[k] = found
        return items  # type: ignore[return-value]

    def _checklist_verdicts(self, states: Sequence[EpisodeState]) -> list[Verdict]:
        lists = self.checklists(states)
        requests, owners = [], []
        for k, (state, items) in enumerate(zip(states, lists)):
            images, labels = self._edited_images(state)
            for item in items:
                requests.append((prompts.answer_text_prompt(state.instruction, item["question"], self.compare_source), images, labels))
                owners.append(k)
        answers = [parsing.parse_yes_no(t) for t in self._texts(requests, self.answer_tokens)]
        per_state: list[list[VerdictItem]] = [[] for _ in states]
        flat = [item for items in lists for item in items]
        for k, item, answer in zip(owners, flat, answers):
            per_state[k].append(VerdictItem(question=item["question"], answer=answer, expected=item["expected"], group=item.get("group", "follow")))
        return [_verdict(items) for items in per_state]

    # -- score mode -------------------------------------------------------------------------------------------------

    def _score_verdicts(self, states: Sequence[EpisodeState]) -> list[Verdict]:
        requests = []
        for state in states:
            images, labels = self._edited_images(state)
            requests.append((prompts.score_text(state.instruction, state.reference, self.dimensions, self.compare_source), images, labels))
        aliases = {d: prompts.SCORE_DIMENSIONS[d][2] for d in self.dimensions}
        verdicts = []
        for text in self._texts(requests, self.max_new_tokens):
            scores = parsing.parse_scores(text, aliases)
            items = []
            for d in self.dimensions:
                s = scores[d]
                answer = "unknown" if s is None else ("yes" if s >= self.pass_score else "no")
                title = prompts.SCORE_DIMENSIONS[d][0]
                group = "keep" if d == "consistency" else ("quality" if d == "quality" else "follow")
                items.append(VerdictItem(question=f"{title} (1-5): {s if s is not None else '?'}", answer=answer, expected="yes", group=group))
            norm = [(scores[d] - 1) / 4 if scores[d] is not None else 0.0 for d in self.dimensions]
            verdict = _verdict(items)
            verdicts.append(verdict.model_copy(update={"score": sum(norm) / len(norm)}))
        return verdicts

    # -- acting -----------------------------------------------------------------------------------------------------

    def act_batch(self, states: Sequence[EpisodeState]) -> list[Verdict]:
        if not states:
            return []
        for state in states:
            if state.edit is None:
                raise ValueError("the VLM verifier needs state.edit (an edited image); put an editor before it")
        return self._checklist_verdicts(states) if self.mode == "checklist" else self._score_verdicts(states)

    def act(self, state: EpisodeState) -> Verdict:
        return self.act_batch([state])[0]


def _verdict(items: list[VerdictItem]) -> Verdict:
    """Score, pass flag and feedback from answered items, as the Canvas verifier writes them."""
    from rewards.checklist import checklist_reward

    if not items:
        return Verdict(items=[], score=0.0, passed=False, feedback="Nothing to check: the checklist is empty.")
    score = checklist_reward([v.answer for v in items], [v.expected or "yes" for v in items])
    failed = [v for v in items if not v.passed]
    feedback = "\n".join(
        f"Failed: {v.question} (expected {v.expected or 'yes'}, {'could not tell' if v.answer == 'unknown' else 'saw ' + v.answer})"
        for v in failed)
    return Verdict(items=items, score=score, passed=not failed, feedback=feedback)
