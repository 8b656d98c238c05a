"""Settings of a GCPO run on the reasoning verifier: one documented field per choice, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestration.grpo.core import AggMode, KLKind, ScaleMode

__all__ = ["GCPOSettings"]


class GCPOSettings(BaseModel):
    """What :func:`orchestration.gcpo.trainer.train_gcpo` trains, on what, and how."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description=(
        "The verifier to start from: a folder written by `editrl sft --config edit_r1` (runs/sft/verifier) or any "
        "causal LM that `agents.lm.model.load_policy` loads."))
    pairs: str = Field(description="Preference pairs, a Parquet file in the format of `envs.preferences`.")
    out_dir: str = Field(default="runs/gcpo", description=(
        "Run folder: checkpoints/step_NNNNNN/ (policy, optimizer, meta.json), checkpoints/latest, metrics.jsonl, "
        "summary.json; the trained verifier is checkpoints/<latest>/policy."))
    steps: int = Field(default=20, ge=1, description=(
        "Optimizer steps (one batch of pairs each). Small by default: a step on 2 CPU cores samples and scores "
        "pairs_per_step * 2 * group_size completions of ~150 tokens."))
    pairs_per_step: int = Field(default=4, ge=1, description="Preference pairs per step.")
    group_size: int = Field(default=4, ge=2, description=(
        "Judgements sampled per edit (the group of verifications per candidate). Edit-R1 uses larger groups; "
        "at least 2, else no judgement has another to rank against."))
    temperature: float = Field(default=1.0, gt=0, description=(
        "Sampling temperature of the judgements; the log-probs are of this tempered distribution, as in GRPO."))
    max_new_tokens: int = Field(default=320, ge=16, description=(
        "Longest judgement; a four-step task on six objects needs ~200 tokens."))
    lr: float = Field(default=2e-5, gt=0, description=(
        "AdamW learning rate. Far below the SFT rate (1e-3): the policy-gradient step on a few groups is noisy, and "
        "the cold start's format must survive it."))
    grad_clip: float = Field(default=1.0, gt=0, description="Gradient norm clip.")
    clip_low: float = Field(default=0.2, ge=0, description="Lower clip range of the policy ratio (GRPO's).")
    clip_high: float = Field(default=0.28, ge=0, description="Upper clip range (DAPO's clip-higher, the GRPO default).")
    loss_agg: AggMode = Field(default="token-mean", description="Loss aggregation, as `train.loss_agg` of GRPO.")
    scale_rewards: ScaleMode = Field(default="group", description="Advantage scaling, as `train.scale_rewards` of GRPO.")
    kl_coef: float = Field(default=0.0, ge=0, description=(
        "Weight of the KL to the starting verifier (a frozen copy is kept only when > 0). Edit-R1 reports 0.04."))
    kl_estimator: KLKind = Field(default="k3", description="KL estimator when `kl_coef` > 0.")
    tie_credit: float = Field(default=0.5, ge=0, le=1, description="Credit of a tie with an opposite-side judgement.")
    checkpoint_every: int = Field(default=10, ge=1, description="Write a checkpoint every this many steps (and at the end).")
    seed: int = Field(default=0, description="Seed of pair sampling and of the sampler.")
    num_threads: int | None = Field(default=1, ge=1, description=(
        "torch threads while training; None leaves torch's setting. One by default: the tiny model gains little "
        "from a second thread on a shared 2-core machine."))

    @model_validator(mode="after")
    def _kl_needs_weight(self) -> "GCPOSettings":
        if self.kl_estimator != "k3" and self.kl_coef == 0:
            raise ValueError("kl_estimator is used only with kl_coef > 0; set kl_coef or leave kl_estimator at k3")
        return self
