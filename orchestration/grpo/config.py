"""GRPO configuration: the settings model, the RLlib ``GRPOConfig`` builder, and a pipeline YAML's ``train:`` section.

Each GRPO setting is defined once, as a field of :class:`GRPOSettings` (type, default, why, bounds). The rest reads it
from there:

- :class:`GRPOConfig` (an RLlib ``AlgorithmConfig``) takes its defaults from the model, accepts its field names in
  :meth:`GRPOConfig.grpo` (generated, with ``NotProvided`` meaning "leave as is"), and ``validate()`` checks the
  values through the model, then what involves the pipeline; errors name the field and what to change. RLlib's own
  fields are reused where they exist (``lr``, ``grad_clip``, ``num_epochs``, ``minibatch_size``, ``seed``), so RLlib
  tooling reads them as usual; :data:`RLLIB_FIELDS` maps the ``train:`` names onto them.
- :class:`TrainSection` validates the YAML ``train:`` block (unknown keys rejected with their path): the GRPO
  settings (it extends :class:`GRPOSettings`) plus what the *run* needs (iterations, time budget, checkpoints,
  output folder, evaluation, SFT cold start, experiment trackers); :func:`build_grpo_config` copies its GRPO fields
  into a ``GRPOConfig`` by iterating the model.

Choices are ``Literal`` types (:mod:`.core` defines the loss and advantage ones); advantage estimators and policy
losses are registries (:func:`.core.register_advantage`, :func:`.core.register_policy_loss`), so their names are
checked against what is registered when the config is validated.

Defaults are sized for the embedded default (a ~2M-parameter policy after SFT, 2 CPU cores); each says why.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided

from agents.lm.prompts import ScanForm
from agents.registry import trainable_summary
from orchestration.config import AgentConfig, ConfigError, PipelineConfig, RewardTerm, nearest_hint
from orchestration.gcpo.config import GCPOSection, gcpo_errors, gcpo_trainable
from orchestration.grpo.core import AggMode, KLKind, ScaleMode, available_advantages, get_advantage, get_policy_loss
from orchestration.grpo.lora import LoraSettings
from orchestration.grpo.placement import PlacementSettings, actor_resources, placement_errors
from orchestration.grpo.precision import LearnerSettings, device_error

Baseline = Literal["group", "greedy"]
FailedEpisodes = Literal["drop_episode", "drop_group"]
ComponentScore = Literal["f1", "grounded"]


def _registered_advantage(name: str) -> str:
    get_advantage(name)  # ValueError listing the registered estimators
    return name


def _registered_policy_loss(name: str) -> str:
    get_policy_loss(name)  # ValueError listing the registered losses
    return name


def _staleness_bound(value: int) -> int:
    if value not in (0, 1):
        raise ValueError(f"max_staleness={value!r}: use 0 (synchronous) or 1 (sample iteration k+1 while the learner "
                         "updates on iteration k); a larger bound would need several samplings in flight, which is not "
                         "implemented")
    return value


#: Updates between the weights that sampled a batch and the learner's when it trains on it: 0 or 1.
Staleness = Annotated[int, AfterValidator(_staleness_bound)]

#: The name of an advantage estimator registered with :func:`.core.register_advantage` (checked when validated, so
#: an estimator registered after this module is imported is accepted).
AdvantageName = Annotated[str, AfterValidator(_registered_advantage)]
#: The name of a policy loss registered with :func:`.core.register_policy_loss`.
PolicyLossName = Annotated[str, AfterValidator(_registered_policy_loss)]


def trainable_backend(agent: AgentConfig) -> bool:
    """Whether GRPO can train this agent: its built-in (role, backend) is declared ``trainable`` in
    ``agents.registry.BUILTIN``, with its ``options.engine`` the one GRPO trains it with (``train_engine``)."""
    return agent.capabilities.trainable_with(agent.options)


def samples_with_vllm(agent: AgentConfig) -> bool:
    """Whether the agent generates with vLLM (backend ``vllm``, or ``options.engine: vllm``): its sampler's log-probs
    come from other kernels than the learner's, and it takes full weights, never a LoRA adapter."""
    return agent.backend == "vllm" or (agent.options or {}).get("engine") == "vllm"


#: Rewards computed from the pipeline verifier's checklist answers.
VERIFIER_REWARDS = ("checklist", "success")


def weak_verifier_rewards(pipeline: PipelineConfig, trainable: dict[str, dict[str, Any]]) -> list[str]:
    """A warning per trained agent whose reward reads the checklist of a Canvas verifier that derives it with the
    rule reader (``use_reference: false`` and ``reader`` not ``full``): that checklist cannot read most indirect
    references, and a policy trained on it learns what it can read while the judge's success falls
    (docs/benchmarks/verifier.md#the-trained-verifier-as-the-only-reward-of-grpo)."""
    verifiers = [a for a in pipeline.agents.values() if a.role == "verifier" and a.backend == "canvas"
                 and (a.options or {}).get("use_reference", True) is False and (a.options or {}).get("reader", "rule") != "full"]
    if not verifiers:
        return []
    return [f"train.agents.{node}: its rewards {', '.join(n for n, _ in spec['rewards'] if n in VERIFIER_REWARDS)} read "
            "the checklist of a Canvas verifier that derives it with the rule reader (use_reference: false), which "
            "cannot read most indirect references; trained on it, a thinker's held-out success fell by a quarter "
            "(docs/benchmarks/verifier.md). Give the verifier reader: full, or use the reasoning verifier"
            for node, spec in trainable.items() if any(n in VERIFIER_REWARDS for n, _ in spec["rewards"])]


def default_trainable(pipeline: PipelineConfig) -> list[str]:
    """The agents GRPO trains when ``train.agents`` is not set: every agent :func:`trainable_backend` accepts."""
    return [node for node, agent in pipeline.agents.items() if trainable_backend(agent)]


#: A mixture of step counts of generated Canvas tasks: weights (>= 0) for 1 to 4 steps.
StepMix = dict[Annotated[int, Field(ge=1, le=4)], Annotated[float, Field(ge=0)]]
CategoryMix = dict[Literal["direct", "knowledge", "spatial", "superlative", "attribute", "logic"], Annotated[float, Field(ge=0)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AgentTrainSpec(_Strict):
    """How one trainable agent is trained."""

    rewards: list[RewardTerm] | None = Field(default=None, description=(
        "Reward terms (registered names with weights). Default: the pipeline's `rewards.<agent>` list, so the YAML "
        "states the reward once for the environment and the learner."))
    advantage: AdvantageName = Field(default="grpo", description=(
        "The advantage estimator, by registered name. grpo: the weighted sum of the terms, normalised in its group. "
        "dual_atomic (DDA-Thinker): each term normalised in its own group, advantages combined with the term "
        "weights. ucpg (ThinkRL-Edit): ranks over the order-consistent subset of the group across the terms "
        "(`rewards.ucpg_advantages`). Your own: `orchestration.grpo.core.register_advantage` (docs/extending.md)."))
    lora: LoraSettings | None = Field(default=None, description=(
        "Train a LoRA adapter instead of every weight (`orchestration.grpo.lora`): only the adapter trains, syncs "
        "to the policy actors each iteration and is checkpointed (a PEFT adapter folder; `editrl merge-lora` merges "
        "it for serving); the KL reference is the model with the adapter off. None: full fine-tuning."))


class DifficultyFilter(_Strict):
    """DDA-Thinker's curriculum: drop train tasks that the pipeline always or never solves."""

    low: float = Field(default=0.0, ge=0.0, le=1.0, description=(
        "A task whose solve rate is <= low after `min_visits` groups leaves the pool (0: only never-solved tasks)."))
    high: float = Field(default=1.0, ge=0.0, le=1.0, description=(
        "A task whose solve rate is >= high after `min_visits` groups leaves the pool (1: only always-solved tasks)."))
    min_visits: int = Field(default=1, ge=1, description=(
        "Groups a task must have been sampled in before it can be dropped. One group of G samples is already G "
        "tries, which is how DDA-Thinker filters (offline, per prompt)."))

    @model_validator(mode="after")
    def _low_below_high(self) -> "DifficultyFilter":
        if not self.low < self.high:
            raise ValueError(f"low={self.low}, high={self.high}: need 0 <= low < high <= 1 (a task whose rate is "
                             "<= low or >= high leaves the pool; with low >= high every task would)")
        return self


class ReflectionSFT(_Strict):
    """A second SFT stage for a thinker that re-plans after feedback (ThinkRL-Edit): once its plain SFT is done,
    the thinker samples first plans for fresh train tasks, the pipeline's own editor and verifier carry them out and
    check them, and each failed plan's feedback becomes a prompt whose target is the right plan
    (`agents.lm.reflection`). Those examples, with as many plain ones, continue its SFT at a tenth of the rate."""

    tasks: int = Field(default=2000, ge=10, description="Generated train tasks whose first plans are sampled (another seed than the plain SFT's).")
    samples: int = Field(default=2, ge=1, description="First plans sampled per task (at temperature 1).")
    steps: int = Field(default=500, ge=1, description="SFT steps of this stage.")


class SFTSection(_Strict):
    """The supervised cold start run by `editrl sft` (and by `editrl train --sft-first`)."""

    out_dir: str = Field(default="runs/sft", description=(
        "Where each role's policy is written (`<out_dir>/<role>/`); the pipeline's `agents.<role>.model` should point there."))
    roles: list[Literal["decomposer", "thinker", "verifier"]] = Field(default_factory=lambda: ["decomposer"], description=(
        "Roles to cold-start. `verifier` is the reasoning verifier (`agents.lm.verifier_sft`), trained on reward "
        "trajectories with its own tokenizer; `n_tasks` and `steps` None take its own defaults there."))
    n_tasks: int | None = Field(default=None, ge=10, description=(
        "Generated train-split tasks used as SFT data (seed `seed`); None: `agents.lm.sft.cold_start`'s default."))
    steps: int | None = Field(default=None, ge=1, description=(
        "SFT steps per role; None: `agents.lm.sft.DEFAULT_SFT_STEPS`, where the decomposer's held-out F1 flattens."))
    lr: float | None = Field(default=None, gt=0, description="Peak SFT learning rate; None: `cold_start`'s default.")
    batch_size: int | None = Field(default=None, ge=1, description="Examples per SFT step; None: `cold_start`'s default.")
    step_mix: StepMix | None = Field(default=None, description=(
        "Mixture of step counts (1-4) of the generated training tasks, e.g. {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}; "
        "None: `agents.lm.sft.DEFAULT_STEP_MIX`. The plain train stream is mostly one-step tasks while held-out "
        "tasks are mostly three- and four-step ones (see `envs.canvas.generator.BALANCED_STEPS`)."))
    reasoning: bool = Field(default=False, description=(
        "The decomposer's SFT targets write a reasoning trace in <think>: after the number of edits, what each indirect "
        "reference or knowledge phrase of the request names ('the lowest shape = medium purple hexagon'). A thinker's "
        "targets write the same think before the plan. Completions get longer: give `train.max_new_tokens` room for it."))
    scan: bool = Field(default=False, description=(
        "With `reasoning`, each note first walks the scene object by object - every object with the number the "
        "reference compares and whether it is named ('the lowest shape: large red star 0.20 no, medium purple "
        "hexagon 0.81 yes = medium purple hexagon') - so the policy decides one object at a time instead of "
        "resolving a reference in one step. 20-40 more tokens per reference (one entry per object): raise "
        "`train.max_new_tokens` and the decomposer's `max_new_tokens` option (192 and 256 in imageedit_r1)."))
    note_subjects: float = Field(default=0.0, ge=0.0, le=1.0, description=(
        "With `reasoning`, the share of answer subjects that an indirect reference names written as the think's note "
        "lists them ('the medium purple star', copied from the note) instead of the shortest unique description ('the "
        "purple shape', which needs every other object checked). Drawn per component from the task id. The paper's "
        "string F1 scores the note's wording 0 (the grounded F1 and the edit count it), so 1.0 lowers string F1. A "
        "thinker's plan names those objects the same way."))
    readable_references: bool = Field(default=False, description=(
        "With `note_subjects`, a reference the editor reads as written on the scene of its step (a region phrase: "
        "'the object in the top right') keeps the request's words in the answer and the plan instead of the note's "
        "object, as the rule thinker passes it on: the editor then resolves it on the scene it edits, whereas the "
        "note's object is worked out on the source scene, before earlier steps moved or changed anything."))
    scan_forms: dict[ScanForm, Annotated[float, Field(ge=0)]] | None = Field(default=None, description=(
        "With `scan` (ignored without it, so `scan: false` alone turns scans off), the forms a note's working takes "
        "and their weights, drawn per note from the task id: "
        "`verdicts` (the scan above), `running` (a superlative of one value keeps the best object so far: 'large red "
        "star 0.20 best, medium purple hexagon 0.81 best, small green circle 0.50 no'; other notes draw among the "
        "other forms), `compare` (the same running best with each decision written out: the kind the phrase names "
        "tested first, then the value against the last best's, how they compare and the relation the superlative "
        "wants: 'small red circle circle vs star no, small green star star vs star 0.10 vs 0.50 less for less "
        "best'), `order` (a superlative of height lists the objects that compete, top to bottom, as the scene "
        "text does, and names the first or the last: no number to copy; other notes draw among the other forms) "
        "and `none` (the note alone). None: verdicts for every note. A mixture leaves the policy a "
        "choice of working per reference that GRPO's reward can settle, which the SFT data cannot."))
    centre_lookups: float = Field(default=0.0, ge=0.0, le=4.0, description=(
        "Auxiliary examples per train task that read its scene, each one of three kinds (`agents.lm.lookups`): "
        "the width, the height or both of some objects named in a random order ('request: Read how far down these "
        "are: large blue star, small red circle.' -> '<think>large blue star 0.47, small red circle 0.18</think>'; "
        "half of them), comparisons of values as a running scan writes them ('Compare: 0.61 with 0.85.' -> "
        "'0.61 vs 0.85 less'; 3 in 10), or the objects in the order of the scene text (1 in 5). The whole part for "
        "every task, the fraction as a chance per task. A scan chains these skills; the tiny policies learn each "
        "only when asked for it on its own. 0: none."))
    lookup_steps: int = Field(default=0, ge=0, description=(
        "SFT steps on such lookups alone (two per train task, as `centre_lookups` writes them) before each "
        "role's SFT from its `init` or fresh weights: the coordinate lookup is learned in a sudden drop of its loss, "
        "which lookups mixed into the task examples did not reach. 0: none."))
    rewordings: float = Field(default=0.0, ge=0.0, le=1.0, description=(
        "The share of one-step direct train tasks that get a second SFT example, their request written in a "
        "train-only sentence shape (`envs.canvas.rewording`: the replaced value named, 'change the circle from red "
        "to blue'; the current state first; 'what if ...'; an arrow), drawn per task from its id; same target. The "
        "generator's templates and so the held-out test split are unchanged."))
    init: dict[Literal["decomposer", "thinker", "verifier"], str] = Field(default_factory=dict, description=(
        "Roles whose SFT starts from a policy folder (its weights and tokenizer) instead of a fresh tiny model with "
        "a tokenizer trained on the SFT data, e.g. {thinker: agents/lm/pretrained/decomposer}: the shipped "
        "decomposer already reads Canvas prompts and resolves their references in its think, which a thinker with "
        "`reasoning` writes the same way. `model` overrides do not apply to these roles."))
    reflection: ReflectionSFT | None = Field(default=None, description=(
        "With role `thinker`: after its SFT, teach it to re-plan from the pipeline verifier's feedback on its own "
        "failed plans (`ReflectionSFT`). The pipeline needs an editor and a verifier; give the verifier "
        "`use_reference: false`, or the feedback spells out the answer. None: no reflection stage."))
    model: dict[str, int | float] = Field(default_factory=dict, description=(
        "`LlamaConfig` fields over the tiny default architecture (`agents.lm.model.tiny_causal_lm_config`), e.g. "
        "{hidden_size: 192, num_hidden_layers: 4}."))
    seed: int = Field(default=0, description="Data, initialisation and shuffling seed.")
    eval_tasks: int = Field(default=0, ge=0, description="Held-out test tasks to measure the decomposer's F1 on after SFT (0: skip).")
    eval_every: int = Field(default=0, ge=0, description=(
        "With `eval_tasks`, also measure every this many steps and record the held-out curve in `cold_start.json` "
        "(evaluation time is not counted as training time). 0: only at the end."))
    eval_seed: int = Field(default=0, ge=0, description=(
        "Seed of the held-out evaluation tasks. Results are reported on seed 0; choose settings on another seed."))
    num_threads: int | None = Field(default=None, ge=1, description=(
        "torch threads while SFT runs; None: every core (SFT then runs alone). Use 1 when other jobs share the cores."))
    workers: int | None = Field(default=None, ge=1, description="Processes that generate the training data; None: every core.")

    def data_options(self) -> dict[str, Any]:
        """The options of `agents.lm.sft.make_sft_data` this section sets: every run that writes SFT examples as this
        cold start does (the cold start itself, continued SFT in the benchmarks) takes them from here, so none of
        them trains on a part of the mixture."""
        return {"reasoning": self.reasoning, "scan": self.scan, "scan_forms": self.scan_forms,
                "note_subjects": self.note_subjects, "readable_references": self.readable_references,
                "rewordings": self.rewordings, "centre_lookups": self.centre_lookups}

    @model_validator(mode="after")
    def _scan_needs_reasoning(self) -> "SFTSection":
        if self.scan and not self.reasoning:
            raise ValueError("scan walks the scene before each note of the reasoning trace: set reasoning: true as well")
        if self.note_subjects and not self.reasoning:
            raise ValueError("note_subjects copies objects from the notes of the reasoning trace: set reasoning: true as well")
        if self.readable_references and not self.note_subjects:
            raise ValueError("readable_references chooses how note-named subjects are written: set note_subjects > 0 as well")
        if self.scan_forms is not None and not any(self.scan_forms.values()):
            raise ValueError(f"scan_forms {self.scan_forms} gives every form weight 0; give at least one a positive weight")
        if self.reflection is not None and "thinker" not in self.roles:
            raise ValueError("reflection teaches a thinker to re-plan from feedback: add thinker to roles, or drop reflection")
        return self


class WandbTracker(_Strict):
    """Weights & Biases: every iteration's metrics also logged to a W&B run (`pip install wandb`).

    Online, the API key comes from `api_key_file`, `WANDB_API_KEY` or `wandb login`; with `WANDB_MODE=offline` the
    run is written under `dir` for a later `wandb sync`. W&B's other environment variables (`WANDB_BASE_URL`, ...)
    apply as usual.
    """

    project: str | None = Field(default=None, description=(
        "W&B project. None: the `WANDB_PROJECT` environment variable, else 'editrl' (W&B's own fallback, "
        "'uncategorized', mixes every tool's runs)."))
    entity: str | None = Field(default=None, description="W&B team or user the run belongs to; None: your default entity.")
    name: str | None = Field(default=None, description="Display name of the W&B run; None: the run folder's name.")
    group: str | None = Field(default=None, description="W&B group, to compare related runs (e.g. one per seed); None: none.")
    tags: list[str] = Field(default_factory=list, description="W&B tags of the run.")
    dir: str | None = Field(default=None, description=(
        "Folder W&B writes its local files to (`wandb/`); None: the run folder, so an offline run sits next to the "
        "metrics it mirrors."))
    api_key_file: str | None = Field(default=None, description=(
        "A file whose first line is the W&B API key; None: `WANDB_API_KEY` or the key `wandb login` stored. Never put "
        "the key itself in a config (config.yaml is written to the run folder)."))


class MLflowTracker(_Strict):
    """MLflow: every iteration's metrics also logged to an MLflow run (`pip install mlflow`).

    Written with MLflow's client (`MlflowClient`); the pipeline config is logged as the run's parameters (flat
    names such as `train.lr`) when the run is created.
    """

    tracking_uri: str | None = Field(default=None, description=(
        "Where MLflow keeps the runs: a server (`http://host:5000`), a database (`sqlite:///mlflow.db`) or a folder "
        "(`file:///abs/path`, which MLflow 3 accepts only with `MLFLOW_ALLOW_FILE_STORE=true`). None: "
        "`MLFLOW_TRACKING_URI`, else MLflow's default (`sqlite:///mlflow.db` in the working directory in MLflow 3)."))
    experiment: str = Field(default="editrl", description="MLflow experiment name; created when it does not exist.")
    run_name: str | None = Field(default=None, description="MLflow run name; None: the run folder's name.")
    tags: dict[str, str] = Field(default_factory=dict, description="MLflow tags of the run.")


class GRPOSettings(_Strict):
    """The GRPO algorithm's settings, each defined once: :class:`TrainSection` extends this model, :class:`GRPOConfig`
    takes its defaults from it, accepts its names in :meth:`GRPOConfig.grpo` and validates its values through it."""

    group_size: int = Field(default=8, ge=2, le=256, description=(
        "G, completions per task. 8 is TRL's default; on 2 CPUs a larger G costs sampling time linearly, and groups "
        "of binary rewards need G >= 4 to be non-constant often enough."))
    tasks_per_iteration: int = Field(default=16, ge=1, description=(
        "Tasks per iteration and agent; the batch is tasks_per_iteration * group_size completions (128 by default: "
        "one generation call; about 3 s per iteration on 2 idle CPU cores for the tiny policy). Measured on the "
        "Canvas decomposer: 16 tasks at lr 2e-4 raised held-out F1 steadily where 8 tasks at any of 2e-4..1e-3 "
        "stayed within noise."))
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay (0, as in TRL and verl for RL fine-tuning).")
    clip_low: float = Field(default=0.2, ge=0, lt=1, description="eps_low of the clipped ratio (PPO/GRPO 0.2).")
    clip_high: float = Field(default=0.28, ge=0, description="eps_high (DAPO's clip-higher 0.28 keeps rare tokens explorable).")
    kl_coef: float = Field(default=0.0, ge=0, description=(
        "beta, weight of the KL penalty to the frozen reference (the starting policy). 0 (TRL's default) does not "
        "load the reference model at all; Edit-R1 reports 0.04, verl uses 0.001."))
    kl_estimator: KLKind = Field(default="k3", description="KL estimator in the loss (k3: unbiased, >= 0).")
    loss_agg: AggMode = Field(default="token-mean", description=(
        "How per-token losses become one number (see `orchestration.grpo.core.aggregate`)."))
    scale_rewards: ScaleMode = Field(default="group", description=(
        "Divide centred rewards by the group std (GRPO), the batch std (Lite PPO), or not at all (Dr.GRPO)."))
    adv_eps: float = Field(default=1e-6, ge=0, description="Added to the std before dividing (verl 1e-6, TRL 1e-4).")
    policy_loss: PolicyLossName = Field(default="clip", description=(
        "The policy loss, by registered name. clip: the clipped surrogate of PPO/GRPO with `clip_low`/`clip_high` and "
        "`loss_agg` (`orchestration.grpo.core.policy_loss`). Your own: `orchestration.grpo.core.register_policy_loss` "
        "(docs/extending.md)."))
    greedy_member: bool = Field(default=False, description=(
        "Make the first completion of every group the policy's greedy one (argmax at each step; its log-probs are of "
        "the sampling temperature, like the others'), so the group's advantages also push down the greedy "
        "completion where samples beat it. Held-out scores are of greedy decoding, and at a high sampling "
        "temperature most of GRPO's signal otherwise goes to sharpening samples toward what greedy already does. "
        "Logged as `<agent>/greedy_reward` and `<agent>/greedy_solved`: the greedy policy on the training tasks, for "
        "free. transformers LM agents only."))
    baseline: Baseline = Field(default="group", description=(
        "What a completion's reward is compared with: 'group' - the group mean (GRPO); 'greedy' - the reward of the "
        "group's greedy completion (self-critical sequence training, Rennie et al. 2017), so only completions that do "
        "better than greedy decoding are pushed up and only worse ones down; needs `greedy_member`. Scaled as "
        "`scale_rewards` says."))
    drop_zero_variance_groups: bool = Field(default=True, description=(
        "Leave groups whose rewards are all equal out of the loss (they have zero advantage) unless token-level credit "
        "(`component_credit`, `trace_credit`, `scan_credit`) differs inside them; they are always counted."))
    component_credit: float = Field(default=0.0, ge=0, description=(
        "Per-component credit for a decomposer with ground-truth components: on the tokens of each component line, "
        "add this times the line's score (`rewards.component_scores`) normalised within its group to the sequence "
        "advantage (`orchestration.grpo.core.component_token_advantages`). For a thinker, each sentence of its plan "
        "is such a line, scored by the components the Canvas editor reads in it (`orchestration.grpo.algorithm."
        "plan_sentence_scores`). 0: sequence-level GRPO, as the peers. "
        "Completions whose lines do not align with their tokens keep the sequence advantage. It reads the ground-truth "
        "components, so a run that must be label-free sets it to 0."))
    trace_credit: float = Field(default=0.0, ge=0, description=(
        "Per-note credit for a decomposer that writes a reasoning trace (`train.sft.reasoning`): on the tokens of each "
        "'<phrase> = <objects>' note of its think, add this times the note's score against the task's own trace "
        "(`rewards.trace.trace_scores`) normalised within its group - credit where the decomposer decides which "
        "object a reference names, before it copies that into its answer. 0: off. It reads the generator's trace, "
        "so a run that must be label-free sets it to 0."))
    scan_credit: float = Field(default=0.0, ge=0, description=(
        "Per-entry credit for a decomposer that writes scan notes (`train.sft.scan`): on the tokens of each entry of "
        "a note's scan ('large blue star 0.20 no'), add this times the entry's score (1 when it equals the task's own "
        "scan entry at that place, `rewards.trace.scan_scores`) normalised within its group - credit on the one "
        "object the policy misjudged rather than on its whole note. 0: off. Applies to transformers decomposers whose "
        "tokenizer writes ';', ':', ' =' and ',' as one token each (others train without it, with a warning). Reads "
        "the generator's scans, so a label-free run sets it to 0."))
    component_score: ComponentScore = Field(default="f1", description=(
        "What a component line's score is, with `component_credit`: 'f1' - the paper's structured F1 against its "
        "matched ground-truth component (subjects compared as strings); 'grounded' - the same with the subject "
        "compared by the objects it names on the Canvas scene of that step (`envs.canvas.grounding`), so any "
        "description of the right object counts. Canvas tasks only."))
    failed_episodes: FailedEpisodes = Field(default="drop_episode", description=(
        "How a group with failed episodes is trained - an agent error, or a call past the agent's `timeout_s` "
        "(error 'timeout: ...'). Such an episode never gets a reward (none is invented) and is always counted. "
        "drop_episode: leave it out and normalise the group over the rest (a group left with one episode has zero "
        "variance and carries no signal). drop_group: leave the whole group out of the loss, for when failures "
        "depend on the completion (a long plan that times out the editor) and the rest would be a biased sample."))
    sample_timeout_s: float | None = Field(default=None, gt=0, description=(
        "Bound on one call to a policy actor (sampling or acting on a shard of the iteration's tasks). Past it the "
        "actor is killed, Ray restarts it (agents.<name>.max_restarts), and the shard is retried once on a live "
        "actor or dropped; counted as faults/timeouts. None: no bound, since sampling time varies tenfold on a "
        "loaded CPU; set it to several times a normal iteration's generate_s."))
    difficulty_filter: DifficultyFilter | None = Field(default=None, description=(
        "DDA-Thinker's curriculum (drop always/never solved tasks from the pool); 'solved' = the pipeline's verifier "
        "passes every checklist item. None disables it."))
    tis_cap: float | None = Field(default=None, gt=0, description=(
        "Truncated importance sampling between the sampling engine and the learner (Yao et al. 2025; verl's "
        "`rollout_is`): before each update the learner recomputes the log-probs of the sampled tokens with its own "
        "weights, the clipped ratio is taken against those, and each token's term is weighted by min(pi_learner / "
        "pi_sampler, tis_cap) (`orchestration.grpo.core.truncated_importance_weights`; logged as "
        "`<agent>/tis_weight_mean`, `<agent>/tis_truncated_share`, `<agent>/tis_kl`). Needed when another engine "
        "samples (vLLM: its kernels' log-probs differ from the learner's for the same weights), and required then; "
        "costs one forward pass of the batch. 2 is the paper's and verl's cap. None: off (the transformers actors' "
        "log-probs are the learner's own up to float noise, `kl_old`)."))
    temperature: float = Field(default=1.0, gt=0, description=(
        "Sampling temperature for the G completions (1.0: the policy's own distribution; old log-probs are of it)."))
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling threshold for the G completions (1 disables it).")
    max_new_tokens: int = Field(default=80, ge=1, description=(
        "Longest completion. A 4-step decomposition is ~60 tokens; a cut-off completion earns no format reward."))
    sampler_threads: int | None = Field(default=None, ge=1, description=(
        "torch threads of each policy actor (None: Ray's default for a 0-CPU actor, 1). Sampling and updates take "
        "turns (unless `max_staleness` is 1), so on 2 cores both may use 2."))
    max_staleness: Staleness = Field(default=0, description=(
        "How many updates older than the learner the weights that sampled a batch may be. 0: synchronous - sample, "
        "update, sync, in turn. 1: one-step off-policy (verl's one_step_off_policy): the policy actors sample "
        "iteration k+1 with the weights of update k-1 while the learner updates on iteration k, and the weights are "
        "synced between the two samplings, so an iteration takes about max(generate, update) + sync instead of their "
        "sum. The loss's behaviour policy is the sampler's own log-probs either way, so with 1 the clipped ratio is "
        "pi_theta / pi_(theta one update older) from the first epoch on. Sampling and update then run at once: on a "
        "small machine split the cores between them (`sampler_threads`, `learner.threads`), or they slow each other down (docs/training.md#asynchronous-grpo-trainmax_staleness)."))
    train_tasks: int = Field(default=2000, ge=1, description="Generated train-split tasks the iterations draw from (ignored with `train_data`).")
    train_data: str | None = Field(default=None, description="A task Parquet file (`editrl data generate`) to train on instead of generated tasks.")
    data_seed: int = Field(default=1, description=(
        "Seed of the generated train tasks. 1, not the SFT seed 0, so GRPO sees tasks the cold start did not."))
    step_mix: StepMix | None = Field(default=None, description=(
        "Mixture of step counts (1-4) of the generated train tasks (`envs.canvas.generator.generate_mixed_tasks`), "
        "e.g. {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}. None: the plain train stream, which is ~60% one-step tasks while "
        "held-out tasks are mostly three- and four-step ones."))
    category_mix: CategoryMix | None = Field(default=None, description=(
        "Weights of the reasoning categories of the generated train tasks (direct, knowledge, spatial, superlative, "
        "attribute, logic), e.g. to spend GRPO's samples where the policy still fails; categories left out are not "
        "drawn; the stream is then a mixed one (`step_mix`, or balanced step counts when that is None). None: the "
        "generator's own weights (`envs.canvas.generator.CATEGORY_WEIGHTS`)."))
    rewordings: float = Field(default=0.0, ge=0.0, le=1.0, description=(
        "The share of the generated one-step direct train tasks whose request GRPO sees in a train-only sentence "
        "shape instead of the generator's (`envs.canvas.rewording`, as `sft.rewordings` adds them to the cold "
        "start's data), drawn per task from its id; the ground truth is the same. Direct tasks must be in the "
        "stream (`category_mix`). 0: the generator's wording only."))
    rollout_samples: int = Field(default=4, ge=0, description="Rollouts per iteration and agent written to rollouts.parquet (prompt, completion, rewards).")
    learner: LearnerSettings = Field(default_factory=LearnerSettings, description=(
        "Device, dtype, gradient checkpointing and micro-batch size (gradient accumulation) of the learner "
        "(`orchestration.grpo.precision.LearnerSettings`). The default - CPU, float32, whole minibatches - is what "
        "the tiny policies need; a large policy trains with {device: cuda, dtype: bfloat16, micro_batch_size: ...}."))
    placement: PlacementSettings | None = Field(default=None, description=(
        "Place the learners and the policy actors with Ray placement groups, reserved before they start "
        "(`orchestration.grpo.placement.PlacementSettings`): the policy actors one bundle each (their agent's "
        "`num_cpus` / `num_gpus`) with a strategy, on or off the learners' nodes (`colocate`); the learners "
        "(`num_learners` >= 1) one bundle each of RLlib's resources per learner, through RLlib's own "
        "`build_learner_group(placement_group=...)`. A group the cluster cannot place within `timeout_s` is an error "
        "naming what was asked and what is free. None: Ray puts every actor wherever there is room."))
    gcpo: GCPOSection | None = Field(default=None, description=(
        "Train the pipeline's LM verifier with GCPO (Edit-R1) on preference pairs instead of a policy with GRPO "
        "(`orchestration.gcpo.algorithm.GCPO`: the same learner, loss, actors and checkpoints; each pair's judgements "
        "rewarded by how they rank against the other side's). Its own settings: `orchestration.gcpo.config."
        "GCPOSection`; the shared ones (group_size, temperature, lr, clip, kl_coef, ...) are these. None: GRPO."))

    @model_validator(mode="after")
    def _rewordings_have_tasks(self) -> "GRPOSettings":
        # A share of rewordings with no generated direct task to reword would train on the generator's wording while
        # the config says otherwise.
        if not self.rewordings:
            return self
        if self.train_data is not None:
            raise ValueError(f"rewordings is {self.rewordings} but train_data is set: rewordings apply to generated "
                             "tasks only; drop train_data or set train.rewordings=0")
        if self.category_mix is not None and not self.category_mix.get("direct"):
            raise ValueError(f"rewordings is {self.rewordings} but category_mix draws no direct tasks, the only ones "
                             "reworded; add direct to category_mix (e.g. direct: 1) or set train.rewordings=0")
        return self


class PolicySelection(_Strict):
    """Which checkpoint a run hands on: the one that scored best on validation tasks, judged as the run goes."""

    tasks: int = Field(default=200, ge=1, description="Test-split tasks each candidate is judged on (greedy decoding).")
    seed: int = Field(default=1, description=(
        "Seed of those tasks. It must differ from `eval_seed`: the before/after table is then judged on tasks that "
        "had no part in choosing the policy."))
    every: int = Field(default=20, ge=1, description="Judge the policy every this many iterations (a checkpoint is saved there).")
    metric: Literal["full_success", "f1_overall"] = Field(default="full_success", description=(
        "What is compared; ties keep the earlier candidate."))


class TrainSection(GRPOSettings):
    """The `train:` section of a pipeline YAML: the GRPO settings (:class:`GRPOSettings`), the optimiser settings RLlib
    holds (:data:`RLLIB_FIELDS`), and how the run is driven."""

    agents: dict[str, AgentTrainSpec] | None = Field(default=None, description=(
        "Agents to train, by node name. Default: every language-model node of the graph (backend `transformers`, or a "
        "`vlm` thinker or decomposer, whose images go into the learner's forward pass) with its `rewards` entry. "
        "Several agents may train in one run (e.g. thinker and decomposer); each gets its own groups and reward."))
    iterations: int = Field(default=40, ge=0, description="GRPO iterations to run (the run also stops at `time_budget_s`).")
    time_budget_s: float | None = Field(default=None, gt=0, description=(
        "Stop after the iteration that crosses this wall time (GRPO only, setup and evaluation excluded). None: no limit."))
    lr: float = Field(default=2e-4, gt=0, json_schema_extra={"rllib": "lr"}, description=(
        "AdamW learning rate. Pretrained LMs use 1e-6..1e-5; the ~1M-parameter SFT policy needs more to move within "
        "minutes. Measured on the Canvas decomposer (held-out greedy F1 after 50-100 iterations): 2e-4 with 16 tasks "
        "per iteration +0.01..0.02; 3e-4..1e-3 (8 tasks, or 16 completions per group) within noise of the start."))
    grad_clip: float | None = Field(default=1.0, gt=0, json_schema_extra={"rllib": "grad_clip"}, description=(
        "Global gradient-norm clip (TRL and verl: 1.0). None disables it."))
    epochs_per_batch: int = Field(default=1, ge=1, le=16, json_schema_extra={"rllib": "num_epochs"}, description=(
        "Passes over each batch (TRL's num_iterations / verl's ppo_epochs). 1 keeps GRPO on-policy: the ratio is 1 "
        "and clipping only acts from the second pass on."))
    minibatch_size: int | None = Field(default=None, ge=1, json_schema_extra={"rllib": "minibatch_size"}, description=(
        "Completions per gradient step; None: the whole batch in one step."))
    num_learners: int = Field(default=0, ge=0, json_schema_extra={"rllib": "num_learners"}, description=(
        "Learners (RLlib's LearnerGroup, data-parallel with its own DDP). 0: one learner in the `editrl train` "
        "process. N >= 1: N learner actors, each taking a shard of every minibatch, their gradients averaged and "
        "each shard's loss weighted by its share, so N learners take the step one takes "
        "(`orchestration.grpo.accumulate`); with `learner.device: cuda` each gets a GPU of its own from Ray."))
    seed: int | None = Field(default=None, description="Seed of task sampling, generation and initialisation; default the pipeline's `seed`.")
    run_dir: str | None = Field(default=None, description="Output folder of the run (checkpoints, metrics); default runs/<pipeline name>.")
    checkpoint_every: int = Field(default=10, ge=0, description="Checkpoint every N iterations (and always after the last); 0: only at the end.")
    keep_checkpoints: int = Field(default=2, ge=1, description="Checkpoints kept on disk (older ones are deleted).")
    eval_tasks: int = Field(default=0, ge=0, description="Held-out test tasks judged before and after training (0: skip the before/after table).")
    eval_seed: int = Field(default=0, description="Seed of the held-out test tasks (split 'test').")
    eval_every: int = Field(default=0, ge=0, description=(
        "With `eval_tasks`, also judge the held-out tasks (greedy) every this many iterations, at a checkpoint: the "
        "held-out curve, logged as `heldout/<metric>` in TensorBoard and kept in eval.json's "
        "`curve`. Evaluation time is not counted in `time_budget_s`, so a budget buys the same GRPO either way. "
        "0: only before and after."))
    select_best: PolicySelection | None = Field(default=None, description=(
        "Hand on the best checkpoint instead of the last (`PolicySelection`): the starting policy and the policy "
        "every `select_best.every` iterations are judged on validation tasks, and the best of them becomes the run's "
        "policy (in `<run_dir>/selected_policies/iter_NNNNNN/`, and the one the before/after table judges; it may be the "
        "starting policy). GRPO on a small policy often peaks early and then drifts; this keeps the peak. Validation "
        "time is not counted in `time_budget_s`. None: the last checkpoint."))
    sft: SFTSection = Field(default_factory=SFTSection, description="The supervised cold start (`editrl sft`).")
    wandb: WandbTracker | None = Field(default=None, description=(
        "Also log the metrics to Weights & Biases, under the names metrics.parquet and TensorBoard use. Off (null) by "
        "default; `wandb: {}` turns it on with the defaults (`--set train.wandb.project=NAME` too). A resumed run "
        "continues the same W&B run."))
    mlflow: MLflowTracker | None = Field(default=None, description=(
        "Also log the metrics to MLflow, under the names metrics.parquet and TensorBoard use. Off (null) by default; "
        "`mlflow: {}` turns it on with the defaults. A resumed run continues the same MLflow run."))

    @model_validator(mode="after")
    def _selection_tasks_differ(self) -> "TrainSection":
        if self.select_best is not None and self.eval_tasks and self.select_best.seed == self.eval_seed:
            raise ValueError(f"select_best.seed and eval_seed are both {self.eval_seed}: the policy would be chosen on the "
                             "tasks that then judge it; give select_best another seed (e.g. "
                             f"--set train.select_best.seed={self.eval_seed + 1})")
        return self

    @model_validator(mode="after")
    def _gcpo_judged_elsewhere(self) -> "TrainSection":
        # The held-out table and the policy selection judge the pipeline's edits, which a verifier does not make.
        if self.gcpo is not None and (self.eval_tasks or self.select_best is not None):
            raise ValueError("gcpo trains the verifier, and eval_tasks / select_best judge the pipeline's edits, which "
                             "the verifier does not change: set eval_tasks: 0 and select_best: null, and measure the "
                             "verifier with benchmarks/verifier.py (pairwise accuracy on held-out pairs)")
        return self


#: ``train:`` key -> the RLlib ``AlgorithmConfig`` attribute that holds it (declared on the field), so RLlib's own
#: ``lr``, ``grad_clip``, ``num_epochs`` and ``minibatch_size`` carry these settings, with the fields' defaults.
RLLIB_FIELDS: dict[str, str] = {
    name: field.json_schema_extra["rllib"] for name, field in TrainSection.model_fields.items()
    if isinstance(field.json_schema_extra, dict) and "rllib" in field.json_schema_extra
}


#: The RLlib fields of :data:`RLLIB_FIELDS` that ``AlgorithmConfig.learners()`` sets (the others: ``.training()``).
_LEARNERS_FIELDS = ("num_learners",)


def train_section(config: PipelineConfig) -> TrainSection:
    """The validated `train:` section of a pipeline config (defaults when it has none); ConfigError names the key."""
    try:
        return TrainSection.model_validate(config.train or {})
    except ValidationError as err:
        parts = []
        for e in err.errors():
            path = ".".join(str(p) for p in e["loc"])
            parts.append(f"train.{path}: {e['msg']}")
        raise ConfigError(f"invalid train section of pipeline {config.name!r}: " + "; ".join(parts)) from None


class GRPOConfig(AlgorithmConfig):
    """Configuration of :class:`orchestration.grpo.algorithm.GRPO` (an RLlib ``AlgorithmConfig``).

    GRPO fields: those of :class:`GRPOSettings` (set with :meth:`grpo`); RLlib fields it uses: ``lr``,
    ``grad_clip``, ``num_epochs`` (epochs per batch), ``minibatch_size``, ``num_learners`` (:data:`RLLIB_FIELDS`),
    ``num_gpus_per_learner`` (from ``learner.device``), ``seed``; with ``placement`` set, :meth:`build_learner_group`
    hands RLlib a placement group for the learners (:mod:`.placement`). Build with
    :func:`build_grpo_config` from a pipeline YAML, or by hand::

        config = GRPOConfig().editing(pipeline=load_config("imageedit_r1")).grpo(group_size=8).training(lr=2e-4)
        algo = config.build_algo()
    """

    def __init__(self, algo_class: type | None = None) -> None:
        from orchestration.grpo.algorithm import GRPO
        from orchestration.grpo.module import PlaceholderEnv

        super().__init__(algo_class=algo_class or GRPO)
        # -- the pipeline and who trains ---------------------------------------------------------------------------
        self.pipeline_config: dict[str, Any] | None = None
        self.trainable_agents: dict[str, dict[str, Any]] = {}
        # -- GRPO: every setting's default from the model, as plain values (a dict for difficulty_filter), so the
        # config pickles into checkpoints without pydantic classes ----------------------------------------------------
        for name, value in GRPOSettings().model_dump().items():
            setattr(self, name, value)
        # -- RLlib fields with GRPO defaults -------------------------------------------------------------------------
        for name, rllib_name in RLLIB_FIELDS.items():
            setattr(self, rllib_name, TrainSection.model_fields[name].default)
        # Rollouts go through the project's own agent actors; RLlib still builds one local EnvRunner, which gets a
        # placeholder environment (it never steps).
        self.num_env_runners = 0
        self.env = PlaceholderEnv
        self.enable_rl_module_and_learner = True
        self.enable_env_runner_and_connector_v2 = True

    # -- builder methods -------------------------------------------------------------------------------------------

    def editing(self, *, pipeline: PipelineConfig | dict[str, Any] | None = NotProvided,
                trainable_agents: dict[str, dict[str, Any]] | None = NotProvided) -> "GRPOConfig":
        """The pipeline and who trains.

        Args:
            pipeline: a validated :class:`PipelineConfig` (stored as a plain dict so the config pickles into
                checkpoints).
            trainable_agents: ``{node: {"rewards": [[name, weight], ...], "advantage": "grpo"|"dual_atomic"|"ucpg"}}``.
                Default (empty): every node :func:`trainable_backend` accepts, with the pipeline's ``rewards`` for
                it, advantage "grpo".
        """
        if pipeline is not NotProvided:
            self.pipeline_config = pipeline.model_dump(mode="json") if isinstance(pipeline, PipelineConfig) else dict(pipeline)
        if trainable_agents is not NotProvided:
            self.trainable_agents = dict(trainable_agents or {})
        return self

    def grpo(self, **settings: Any) -> "GRPOConfig":
        # The keywords are GRPOSettings' fields: the signature and the argument list of the docstring are generated
        # from the model below the class, so a new setting is one field there.
        unknown = [name for name in settings if name not in GRPOSettings.model_fields]
        if unknown:
            raise TypeError(f"GRPOConfig.grpo() got unknown setting {unknown[0]!r}"
                            + nearest_hint(unknown[0], list(GRPOSettings.model_fields), "settings"))
        for name, value in settings.items():
            if value is not NotProvided:
                setattr(self, name, value.model_dump() if isinstance(value, BaseModel) else value)
        if settings.get("gcpo", NotProvided) is not NotProvided:
            from orchestration.gcpo.algorithm import GCPO
            from orchestration.grpo.algorithm import GRPO

            if self.algo_class in (GRPO, GCPO):  # a user's own subclass stays as given
                self.algo_class = GCPO if self.gcpo is not None else GRPO
        return self

    # -- derived ---------------------------------------------------------------------------------------------------

    def pipeline(self) -> PipelineConfig:
        """The pipeline as a validated model."""
        if self.pipeline_config is None:
            raise ValueError("GRPOConfig.pipeline_config is not set; call .editing(pipeline=load_config(...))")
        return PipelineConfig.model_validate(self.pipeline_config)

    def resolved_trainable(self) -> dict[str, dict[str, Any]]:
        """``{node: {"rewards": [(name, weight)], "advantage": mode}}`` (and ``"lora"``: its settings, when set) with
        the defaults filled in."""
        pipeline = self.pipeline()
        defaults = gcpo_trainable(pipeline) if self.gcpo is not None else default_trainable(pipeline)
        spec = self.trainable_agents or {node: {} for node in defaults}
        out = {}
        for node, entry in spec.items():
            if entry.get("lora") is not None:
                try:
                    LoraSettings.model_validate(entry["lora"])
                except ValidationError as err:
                    raise ValueError("; ".join(_field_errors(err, prefix=f"train.agents.{node}.lora", value=entry["lora"]))) from None
            rewards = entry.get("rewards")
            if rewards is None:
                rewards = [(t.name, t.weight) for t in pipeline.rewards.get(node, [])]
            out[node] = {"rewards": [(str(n), float(w)) for n, w in rewards],
                         "advantage": entry.get("advantage", AgentTrainSpec.model_fields["advantage"].default),
                         **({"lora": dict(entry["lora"])} if entry.get("lora") is not None else {})}
        return out

    @property
    def module_ids(self) -> list[str]:
        return list(self.resolved_trainable())

    # -- RLlib hooks -----------------------------------------------------------------------------------------------

    def get_default_learner_class(self) -> type:
        from orchestration.grpo.learner import GRPOTorchLearner

        return GRPOTorchLearner

    def build_learner_group(self, *, env=None, spaces=None, rl_module_spec=None, placement_group=None):
        # RLlib's hook for placing the learner actors. Algorithm.setup passes no group here outside Tune, so with
        # train.placement the learners get one of their own; RLlib's backend executor removes it at shutdown.
        if placement_group is None and self.placement is not None and self.num_learners > 0:
            from orchestration.grpo.placement import learner_bundle, reserve

            settings = PlacementSettings.model_validate(self.placement)
            bundle = learner_bundle(self.num_cpus_per_learner, self.num_gpus_per_learner, self.custom_resources_per_learner)
            placement_group = reserve("learners", [bundle] * self.num_learners, settings.learner_strategy, settings.timeout_s)
        return super().build_learner_group(env=env, spaces=spaces, rl_module_spec=rl_module_spec,
                                           placement_group=placement_group)

    def get_default_rl_module_spec(self):
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        return MultiRLModuleSpec(rl_module_specs={node: self.module_spec(node) for node in self.module_ids})

    def get_multi_rl_module_spec(self, *, env=None, spaces=None, inference_only: bool = False, **kwargs):
        # One CausalLMModule per trainable agent, spaces fixed by the placeholder environment (the modules read
        # token ids, not observations), whatever the EnvRunner inferred.
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        specs = {node: self.module_spec(node, inference_only=inference_only) for node in self.module_ids}
        return MultiRLModuleSpec(rl_module_specs=specs, inference_only=inference_only)

    def get_rl_module_spec(self, env=None, spaces=None, inference_only=None):
        # The local EnvRunner's module: an empty inference-only CausalLMModule (the EnvRunner never acts).
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        from orchestration.grpo.module import PLACEHOLDER_SPACE, CausalLMModule

        return RLModuleSpec(module_class=CausalLMModule, observation_space=PLACEHOLDER_SPACE,
                            action_space=PLACEHOLDER_SPACE, inference_only=True, model_config={})

    def module_spec(self, node: str, inference_only: bool = False):
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        from orchestration.grpo.module import PLACEHOLDER_SPACE, CausalLMModule, VLMModule

        agent = self.pipeline().agents[node]
        learner = LearnerSettings.model_validate(self.learner)
        return RLModuleSpec(
            module_class=VLMModule if agent.backend == "vlm" else CausalLMModule,
            observation_space=PLACEHOLDER_SPACE,
            action_space=PLACEHOLDER_SPACE,
            inference_only=inference_only,
            model_config={"model": agent.model, "temperature": self.temperature, "reference": self.kl_coef > 0,
                          "agent": node, "lora": self.resolved_trainable()[node].get("lora"), "dtype": learner.dtype,
                          "gradient_checkpointing": learner.gradient_checkpointing, "threads": learner.threads},
        )

    def validate(self) -> None:
        """RLlib's checks, then GRPO's: each error names the field and what to change."""
        super().validate()
        errors = self.grpo_errors()
        if errors:
            raise ValueError("invalid GRPOConfig: " + "; ".join(errors))

    def settings_errors(self) -> list[str]:
        """Problems with the values of the GRPO settings and the RLlib fields of :data:`RLLIB_FIELDS`, checked by
        their fields in :class:`TrainSection` (strictly: a string is not a number here), one message each."""
        errors = []
        values = {name: getattr(self, name) for name in GRPOSettings.model_fields}
        try:
            GRPOSettings.model_validate(values, strict=True)
        except ValidationError as err:
            errors.extend(_field_errors(err))
        for name, rllib_name in RLLIB_FIELDS.items():
            field = TrainSection.model_fields[name]
            try:
                TypeAdapter(Annotated[field.annotation, field]).validate_python(getattr(self, rllib_name), strict=True)
            except ValidationError as err:
                errors.extend(_field_errors(err, prefix=rllib_name, value=getattr(self, rllib_name),
                                            suffix="" if name == rllib_name else f" (train.{name})"))
        return errors

    def grpo_errors(self) -> list[str]:
        """Problems with the GRPO fields, one message each (empty when the config is valid)."""
        from orchestration.graph import build_graph
        from rewards import available_rewards

        errors: list[str] = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                errors.append(message)

        value_errors = self.settings_errors()
        errors.extend(value_errors)
        check(self.baseline != "greedy" or self.greedy_member,
              "baseline='greedy' compares each completion with the group's greedy one: set greedy_member=true as well")
        if isinstance(self.learner, dict) and self.learner.get("device") in ("cpu", "cuda"):
            cuda = self.learner["device"] == "cuda"
            problem = device_error(self.learner["device"], self.num_learners)
            if problem:
                errors.append(problem)
            elif cuda != (self.num_gpus_per_learner > 0):
                errors.append(f"learner.device={self.learner['device']!r} but num_gpus_per_learner="
                              f"{self.num_gpus_per_learner!r}: RLlib places the learner by num_gpus_per_learner; set "
                              f".learners(num_gpus_per_learner={1 if cuda else 0}) (build_grpo_config does)")
        if self.pipeline_config is None:
            errors.append("pipeline_config is not set: call .editing(pipeline=load_config(...))")
            return errors
        try:
            pipeline = self.pipeline()
            graph = build_graph(pipeline, resolve_classes=False)
        except (ValueError, ConfigError) as err:
            errors.append(f"pipeline_config: {err}")
            return errors
        try:
            trainable = self.resolved_trainable()
        except ValueError as err:
            errors.append(str(err))
            return errors
        if self.gcpo is not None:
            if not trainable:
                errors.append("train.gcpo: the pipeline has no LM verifier to train (an agent with role verifier and "
                              "backend transformers, e.g. configs/edit_r1.yaml's)")
            errors.extend(gcpo_errors(pipeline, trainable, {name: getattr(self, name) for name in GRPOSettings.model_fields}))
        elif not trainable:
            errors.append(f"trainable_agents: no agent to train; the pipeline has no trainable node (make one "
                          f"{trainable_summary()}) or name one under train.agents")
        known_rewards = set(available_rewards())
        for node, spec in trainable.items():
            where = f"train.agents.{node}"
            if node not in graph.order:
                errors.append(f"{where}: {node!r} is not a node of the graph ({', '.join(graph.order)}); train one of those")
                continue
            agent = pipeline.agents[node]
            if self.gcpo is not None:  # gcpo_errors above checked what GCPO needs of the node
                if not agent.model:
                    errors.append(f"agents.{node}.model is not set; point it at the SFT verifier (editrl sft --config edit_r1)")
                continue
            if not trainable_backend(agent):
                errors.append(f"{where}: agent {node!r} (backend {agent.backend!r}) cannot be trained; train "
                              f"{trainable_summary()}")
            if not agent.model:
                errors.append(f"agents.{node}.model is not set; point it at the SFT policy (e.g. runs/sft/{graph.roles[node]})")
            if samples_with_vllm(agent) and self.tis_cap is None:
                errors.append(f"{where}: agent {node!r} samples with vLLM, whose log-probs are not the learner's for the "
                              "same weights; set train.tis_cap (truncated importance sampling, e.g. 2.0)")
            if agent.replicas < 1:
                errors.append(f"agents.{node}.replicas must be >= 1")
            if not spec["rewards"]:
                errors.append(f"{where}.rewards: no reward terms; list them under rewards.{node} or {where}.rewards")
            for name, _ in spec["rewards"]:
                if name not in known_rewards:
                    errors.append(f"{where}.rewards: unknown reward {name!r}; known: {', '.join(sorted(known_rewards))}")
            try:
                estimator = get_advantage(spec["advantage"])
            except ValueError as err:
                errors.append(f"{where}.advantage: {err}")
                estimator = None
            if estimator is not None and len(spec["rewards"]) < estimator.min_terms:
                count = {2: "two", 3: "three"}.get(estimator.min_terms, str(estimator.min_terms))
                errors.append(f"{where}.advantage={estimator.name} needs at least {count} reward terms "
                              f"({'one group per term' if estimator.per_term else 'it combines them'}); it has "
                              f"{len(spec['rewards'])}")
            backend = pipeline.agents[node].backend if node in pipeline.agents else None
            if self.greedy_member and backend != "transformers":
                errors.append(f"{where}: greedy_member decodes a greedy completion with the transformers LM agents; "
                              f"agent {node!r} has backend {backend!r}: set greedy_member to false")
            if self.baseline == "greedy" and estimator is not None and not estimator.greedy_baseline:
                supported = [n for n in available_advantages() if get_advantage(n).greedy_baseline]
                errors.append(f"{where}.advantage={spec['advantage']!r}: baseline 'greedy' applies to the "
                              f"{' or '.join(repr(n) for n in supported)} advantage only; use advantage "
                              f"{' or '.join(supported)} or baseline 'group'")
        if isinstance(self.placement, dict) and not value_errors:  # a bad placement value is reported above
            errors.extend(placement_errors(
                PlacementSettings.model_validate(self.placement),
                actor_resources(pipeline.agents, trainable), self.num_learners))
        if self.difficulty_filter is not None and not any(pipeline.agents[n].role == "verifier" for n in graph.order):
            errors.append("difficulty_filter: 'solved' is read from the pipeline's verifier, and the graph has none; "
                          "add a verifier or set difficulty_filter to null")
        return errors


def _field_errors(err: ValidationError, prefix: str | None = None, value: Any = None, suffix: str = "") -> list[str]:
    """``name=value: problem`` per error of a validation (``prefix``/``value``: of a single field's validation)."""
    out = []
    for e in err.errors():
        path = ".".join(str(p) for p in ([prefix] if prefix else []) + list(e["loc"]))
        if not path:  # a check across fields (a model validator): its message names them
            out.append(f"{e['msg']}{suffix}")
            continue
        shown = value if prefix and not e["loc"] else e.get("input")
        out.append(f"{path}={shown!r}{suffix}: {e['msg']}")
    return out


def _grpo_builder_docs() -> tuple[inspect.Signature, str]:
    """:meth:`GRPOConfig.grpo`'s signature and docstring, from :class:`GRPOSettings`' fields."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    lines = ["GRPO settings by name: each is a field of :class:`GRPOSettings` (and a key of the YAML ``train:``",
             "section), validated by ``validate()``; one left out, or ``NotProvided``, keeps its value.", "", "Args:"]
    for name, field in GRPOSettings.model_fields.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=NotProvided,
                                        annotation=field.annotation))
        text = f"{name}: {field.description} Default: {field.get_default(call_default_factory=True)!r}."
        lines.extend(textwrap.wrap(text, 112, initial_indent="    ", subsequent_indent="        "))
    return inspect.Signature(params, return_annotation="GRPOConfig"), "\n".join(lines)


GRPOConfig.grpo.__signature__, GRPOConfig.grpo.__doc__ = _grpo_builder_docs()


def build_grpo_config(pipeline: PipelineConfig, section: TrainSection | None = None) -> GRPOConfig:
    """A :class:`GRPOConfig` for ``pipeline`` from its validated ``train:`` section (or ``section``)."""
    section = section if section is not None else train_section(pipeline)
    trainable = None
    if section.agents is not None:
        trainable = {
            node: {
                "rewards": None if spec.rewards is None else [(t.name, t.weight) for t in spec.rewards],
                "advantage": spec.advantage,
                # only when set, so a run without LoRA records (and resumes) exactly what it did before LoRA existed
                **({"lora": spec.lora.model_dump()} if spec.lora is not None else {}),
            }
            for node, spec in section.agents.items()
        }
    config = (
        GRPOConfig()
        .editing(pipeline=pipeline, trainable_agents=trainable or {})
        .grpo(**{name: getattr(section, name) for name in GRPOSettings.model_fields})
        .training(**{rllib_name: getattr(section, name) for name, rllib_name in RLLIB_FIELDS.items()
                     if rllib_name not in _LEARNERS_FIELDS})
        .learners(**{rllib_name: getattr(section, name) for name, rllib_name in RLLIB_FIELDS.items()
                     if rllib_name in _LEARNERS_FIELDS})
        .debugging(seed=section.seed if section.seed is not None else pipeline.seed)
    )
    if section.learner.device == "cuda":  # RLlib's own placement: the learner's module and batches go to its GPU
        config.learners(num_gpus_per_learner=1)
    return config
