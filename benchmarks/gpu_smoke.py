"""GPU smoke test of the real-model backends: vLLM generation and weight sync, the VLM agents, the diffusers editor.

    python benchmarks/gpu_smoke.py [--device cuda] [--json OUT] [--keep DIR]

Every model is tiny and built from a config here (nothing is downloaded), saved with ``save_pretrained``, and loaded
back through the path a user's checkpoint takes. Steps, each reported as ok / skipped / FAILED with its time:

1. a tiny Llama policy (Canvas tokenizer) and a tiny LLaVA, saved;
2. vLLM loads the policy (``VLLMEngine``) and samples a GRPO-sized batch; tokens/s;
3. vLLM's sampled log-probs against teacher-forced log-probs of the transformers copy (max |diff|);
4. weight sync: the transformers copy is perturbed, ``load_weights`` pushes it into vLLM, and vLLM's greedy
   completions must equal the transformers greedy completions of the perturbed model (and differ before the sync);
5. the ``backend: vllm`` thinker agent acts on a Canvas task and takes weights by ``set_weights``;
6. a VLM agent with ``engine: vllm`` (the tiny LLaVA) acts;
7. VLM agents on the GPU with transformers: thinker sampling + teacher forcing agree; checklist verifier;
8. the diffusers editor (tiny InstructPix2Pix) on the GPU in fp16 at 256 px (64 px on a CPU): ms per edit;
9. the GRPO learner on the device (``train.learner``: bfloat16, gradient checkpointing, micro-batches) with a LoRA
   adapter and a KL reference (the adapter switched off), then full fine-tuning with a reference copy: the update
   moves the trained weights, everything sits on the device, the adapter stays float32, the sync is adapter-sized.

Without vLLM or a GPU the steps that need them are reported as skipped with the reason, and the script exits 0;
``--device cpu`` runs the transformers and diffusers steps on a CPU (a check of this script without a GPU).
The exit status is 1 when any step failed.

Editor GRPO (``benchmarks/_editor_grpo_gpu.py``): three LoRA-GRPO updates each of a tiny InstructPix2Pix and a
tiny FLUX.1-Kontext at 128 px in bfloat16; the learner's log-probs against the sampler's, float32 adapters on the
device, frozen weights unchanged, adapters moved; with Ray, an RLlib learner actor against the in-process learner.

Steps that need RLlib (the GRPO learner, GRPO with vLLM, the editor's learner actor) are skipped with the reason
where Ray is not installed. On a lent GPU machine without a package index, carry the wheels its image lacks
(diffusers, pydantic, pydantic-core for its Python, tensorboardX; see the device notes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

ROWS: list[dict[str, Any]] = []


def step(name: str, fn: Callable[[], str], skip: str | None = None) -> None:
    """Run one step and record (name, status, seconds, detail)."""
    if skip:
        ROWS.append({"step": name, "status": "skipped", "seconds": None, "detail": skip})
        print(f"[skip] {name}: {skip}", flush=True)
        return
    start = time.perf_counter()
    try:
        detail = fn()
        status = "ok"
    except Exception as err:  # noqa: BLE001 - a smoke test reports every failure and goes on
        detail = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        status = "FAILED"
        traceback.print_exc()
    seconds = round(time.perf_counter() - start, 2)
    ROWS.append({"step": name, "status": status, "seconds": seconds, "detail": detail})
    print(f"[{status}] {name} ({seconds} s): {detail}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (transformers/diffusers steps only)")
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    parser.add_argument("--keep", default=None, help="save the tiny models here instead of a temporary folder")
    parser.add_argument("--prompts", type=int, default=32, help="prompts in the vLLM batch")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt (GRPO group size)")
    args = parser.parse_args()

    from agents.base import EditResult, EpisodeState
    from agents.vllm_backend import vllm_available
    from envs.canvas.generator import GeneratorConfig, generate_tasks

    has_gpu = torch.cuda.is_available()
    vllm_ok, vllm_why = vllm_available()
    device = args.device
    gpu_skip = None if (device == "cpu" or has_gpu) else "no CUDA GPU is visible (run with --device cpu to check the CPU steps)"
    vllm_skip = None if vllm_ok else vllm_why
    print(f"torch {torch.__version__}, CUDA {'yes: ' + torch.cuda.get_device_name(0) if has_gpu else 'no'}, "
          f"vLLM {'yes' if vllm_ok else 'no (' + vllm_why + ')'}", flush=True)

    root = Path(args.keep or tempfile.mkdtemp(prefix="editrl-gpu-smoke-"))
    root.mkdir(parents=True, exist_ok=True)
    tasks = list(generate_tasks(4, seed=0, split="test", cfg=GeneratorConfig(size=128)))
    state = EpisodeState(task_id=tasks[0].task_id, instruction=tasks[0].instruction, source_png=tasks[0].source_png,
                         checklist=list(tasks[0].checklist))
    ctx: dict[str, Any] = {}

    # 1. tiny checkpoints -----------------------------------------------------------------------------------------
    def build() -> str:
        from agents.lm.model import build_model, count_parameters, save_policy, tiny_causal_lm_config
        from agents.lm.tokenizer import canvas_corpus, train_tokenizer
        from agents.vlm.tiny import save_tiny_vlm

        tokenizer = train_tokenizer(canvas_corpus(200, seed=0), vocab_size=1024)
        model = build_model(tokenizer, tiny_causal_lm_config(len(tokenizer), hidden_size=128, num_hidden_layers=2), seed=0)
        ctx["lm"] = save_policy(model, tokenizer, root / "policy")
        ctx["vlm"] = save_tiny_vlm(root / "llava")
        return f"policy {count_parameters(model):,} params at {ctx['lm']}; tiny LLaVA at {ctx['vlm']}"

    step("build tiny policy + VLM", build)

    # 2-4. vLLM engine: throughput, log-prob agreement, weight sync -----------------------------------------------
    def vllm_generate() -> str:
        from agents.lm.model import load_policy
        from agents.lm.prompts import build_prompt, scene_text
        from agents.vllm_backend import VLLMEngine

        engine = VLLMEngine(str(ctx["lm"]), dtype="float32", gpu_memory_utilization=0.25, max_model_len=512)
        hf, tokenizer = load_policy(ctx["lm"], device="cuda")
        prompts = [build_prompt("decomposer", t.instruction, scene_text(t.source_png)) for t in tasks]
        prompts = (prompts * (args.prompts // len(prompts) + 1))[: args.prompts]
        start = time.perf_counter()
        out = engine.generate_ids(tokenizer, prompts, max_new_tokens=64, num_return_sequences=args.group, seed=0)
        seconds = time.perf_counter() - start
        ctx.update(engine=engine, hf=hf, tokenizer=tokenizer, prompts=prompts, batch=out)
        return f"{out.completion_ids.shape[0]} completions, {out.num_generated_tokens / seconds:,.0f} tokens/s"

    step("vLLM: load + sample a GRPO batch", vllm_generate, vllm_skip or gpu_skip or (None if device == "cuda" else "needs --device cuda"))

    def logprob_agreement() -> str:
        from agents.lm.generation import sequence_logprobs

        b = ctx["batch"]
        with torch.no_grad():
            lp, mask = sequence_logprobs(ctx["hf"], b.prompt_ids.cuda(), b.completion_ids.cuda(), b.prompt_mask.cuda(), b.completion_mask.cuda())
        diff = ((lp.cpu() - b.logprobs) * mask.cpu()).abs()
        return f"max |vLLM - transformers| = {diff.max():.2e}, mean {diff.sum() / mask.sum():.2e} (logprobs_mode={ctx['engine'].logprobs_mode})"

    step("vLLM log-probs vs teacher forcing", logprob_agreement, None if "batch" in ctx else "needs the vLLM batch")

    def weight_sync() -> str:
        from agents.lm.generation import generate

        hf, tok, engine, prompts = ctx["hf"], ctx["tokenizer"], ctx["engine"], ctx["prompts"][:8]
        with torch.no_grad():
            gen = torch.Generator(device="cpu").manual_seed(1)
            for p in hf.parameters():
                p.add_(torch.randn(p.shape, generator=gen).to(p.device, p.dtype) * 0.05)
        hf_greedy = generate(hf, tok, prompts, max_new_tokens=24, do_sample=False).texts
        before = engine.generate_ids(tok, prompts, max_new_tokens=24, do_sample=False).texts
        start = time.perf_counter()
        engine.load_weights(hf.state_dict())
        sync_ms = (time.perf_counter() - start) * 1000
        after = engine.generate_ids(tok, prompts, max_new_tokens=24, do_sample=False).texts
        same_after = sum(a == h for a, h in zip(after, hf_greedy))
        same_before = sum(a == h for a, h in zip(before, hf_greedy))
        if same_after < len(prompts) - 1:  # allow one near-tie flip between kernels
            raise AssertionError(f"after load_weights only {same_after}/{len(prompts)} greedy completions match transformers")
        return f"load_weights {sync_ms:.0f} ms; greedy match before {same_before}/{len(prompts)}, after {same_after}/{len(prompts)}"

    step("vLLM weight sync (load_weights)", weight_sync, None if "engine" in ctx else "needs the vLLM engine")
    if "engine" in ctx:  # free the GPU memory of the first engine before the agents start their own
        ctx.pop("engine").close()

    # 5-6. agents on vLLM --------------------------------------------------------------------------------------------
    def vllm_agent() -> str:
        from agents.vllm_backend import VLLMThinker

        thinker = VLLMThinker(str(ctx["lm"]), max_new_tokens=48, gpu_memory_utilization=0.2, max_model_len=512)
        try:
            plans = thinker.act_batch([state] * 4)
            thinker.set_weights(ctx["hf"].state_dict())
            return f"{len(plans)} plans, e.g. {plans[0].text[:60]!r}; weight_version {thinker.engine.weight_version}"
        finally:
            thinker.engine.close()

    step("backend vllm: LM thinker agent", vllm_agent, vllm_skip or gpu_skip or ("needs the policy" if "lm" not in ctx else None))

    def vllm_vlm_agent() -> str:
        from agents.vlm.policy import VLMThinker

        thinker = VLMThinker(str(ctx["vlm"]), engine="vllm", max_new_tokens=16,
                             vllm_options={"gpu_memory_utilization": 0.15, "max_model_len": 1024})
        try:
            plan = thinker.act(state)
            return f"plan {plan.text[:40]!r}"
        finally:
            thinker.engine.close()

    step("backend vlm, engine vllm: tiny LLaVA", vllm_vlm_agent, vllm_skip or gpu_skip or ("needs the VLM" if "vlm" not in ctx else None))

    # 7. VLM agents with transformers ------------------------------------------------------------------------------
    def vlm_transformers() -> str:
        from agents.vlm.policy import VLMThinker, VLMVerifier

        thinker = VLMThinker(str(ctx["vlm"]), device=device, dtype="float32", max_new_tokens=32)
        start = time.perf_counter()
        _, batch = thinker.sample([state] * 4, num_return_sequences=4)
        sample_s = time.perf_counter() - start
        with torch.no_grad():
            diff = (thinker.completion_logprobs(batch).cpu() - batch.logprobs.cpu()).abs().max().item()
        verifier = VLMVerifier(str(ctx["vlm"]), device=device, max_new_tokens=32, answer_tokens=4)
        verdict = verifier.act(state.model_copy(update={"edit": EditResult(image_png=tasks[0].target_png)}))
        return f"16 samples in {sample_s:.2f} s, teacher-forcing max diff {diff:.1e}; verifier {len(verdict.items)} items"

    step(f"backend vlm (transformers, {device})", vlm_transformers, gpu_skip or ("needs the VLM" if "vlm" not in ctx else None))

    # 8. diffusers editor ------------------------------------------------------------------------------------------
    def diffusers_editor() -> str:
        from agents.diffusers_editor import DiffusersEditor, save_tiny_instruct_pix2pix
        from envs.image_io import encode_png, load_image

        path = save_tiny_instruct_pix2pix(root / "ip2p")
        editor = DiffusersEditor(str(path), device=device, dtype="float16" if device == "cuda" else "float32",
                                 num_inference_steps=20)
        side = 256 if device == "cuda" else 64  # a CPU takes minutes per 256 px edit even for this tiny UNet
        big = state.model_copy(update={"source_png": encode_png(load_image(state.source_png).resize((side, side)))})
        editor.act(big)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = editor.act(big)
        if device == "cuda":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - start) * 1000
        assert load_image(result.image_png).size == (side, side)
        return f"{editor.describe()['pipeline']} {editor.describe()['dtype']}: {ms:.0f} ms per {side} px edit at 20 steps"

    step(f"backend diffusers editor ({device})", diffusers_editor, gpu_skip)

    # editor GRPO on the device ------------------------------------------------------------------------------------
    def editor_grpo() -> str:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _editor_grpo_gpu import editor_grpo_on_device

        return editor_grpo_on_device(root, device)

    step(f"editor GRPO ({device}, LoRA, bfloat16 on CUDA)", editor_grpo, gpu_skip)

    # 9. GRPO learner on the device -----------------------------------------------------------------------------------
    # RLlib's learners need Ray, which a GPU machine without a package index may lack (its wheel is larger than
    # what can be carried there): those steps are skipped with the reason rather than failed.
    missing = [m for m in ("ray", "gymnasium") if importlib.util.find_spec(m) is None]
    rllib_skip = f"RLlib's learners need {' and '.join(missing)}, not installed here" if missing else None
    learner_device = "cuda" if device.startswith("cuda") else device  # train.learner.device takes cpu or cuda
    step(f"GRPO learner ({device}, bfloat16, LoRA / full)", lambda: learner_on_device(ctx["lm"], learner_device),
         gpu_skip or rllib_skip or ("needs the policy" if "lm" not in ctx else None))

    # 10. GRPO with vLLM rollouts ------------------------------------------------------------------------------------
    step("GRPO with a vLLM decomposer (tis_cap 2, LoRA merged into vLLM)", lambda: vllm_grpo(ctx["lm"]),
         vllm_skip or gpu_skip or rllib_skip or ("needs the policy" if "lm" not in ctx else None))

    # table ------------------------------------------------------------------------------------------------------------
    print()
    print("| step | status | seconds | detail |")
    print("|---|---|---|---|")
    for row in ROWS:
        print(f"| {row['step']} | {row['status']} | {'-' if row['seconds'] is None else row['seconds']} | {row['detail']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "gpu": torch.cuda.get_device_name(0) if has_gpu else None,
                                               "vllm": vllm_ok, "rows": ROWS}, indent=2))
    return 1 if any(r["status"] == "FAILED" for r in ROWS) else 0


def learner_on_device(policy: Path, device: str) -> str:
    """One update of the real GRPO learner (``GRPOConfig.build_learner``) in bfloat16 on ``device``, with LoRA and
    with full fine-tuning, each with ``kl_coef > 0``; returns what it measured."""
    import numpy as np
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    from orchestration.config import load_config
    from orchestration.grpo.actors import payload_nbytes
    from orchestration.grpo.config import build_grpo_config
    from orchestration.grpo.module import PLACEHOLDER_SPACE

    rng = np.random.default_rng(0)
    n, p, t = 16, 48, 32
    mask = (np.arange(t)[None, :] < rng.integers(t // 2, t + 1, n)[:, None]).astype(np.int64)
    cols = {"prompt_ids": rng.integers(5, 500, (n // 4, p))[np.arange(n) // 4], "prompt_mask": np.ones((n, p), np.int64),
            "completion_ids": rng.integers(5, 500, (n, t)) * mask, "completion_mask": mask,
            "old_logp": (-rng.uniform(2, 7, (n, t)) * mask).astype(np.float32), "advantages": rng.normal(size=n).astype(np.float32)}
    out = []
    for name, lora in (("lora", {"r": 8, "alpha": 16}), ("full", None)):
        sets = [f"agents.decomposer.model={policy}", "train.kl_coef=0.05", "train.lr=1e-3",
                "train.learner={device: %s, dtype: bfloat16, gradient_checkpointing: true, micro_batch_size: 4}" % device,
                "train.agents={decomposer: {%s}}" % ("lora: {r: 8, alpha: 16}" if lora else "")]
        config = build_grpo_config(load_config("imageedit_r1", sets))
        config.validate()
        learner = config.build_learner(env=None, spaces={"decomposer": (PLACEHOLDER_SPACE, PLACEHOLDER_SPACE)})
        module = learner.module["decomposer"]
        trained = {k: v.detach().clone() for k, v in module.model.named_parameters() if v.requires_grad}
        start = time.perf_counter()
        results = learner.update(batch=MultiAgentBatch({"decomposer": SampleBatch(cols)}, env_steps=n))
        seconds = time.perf_counter() - start
        moved = max(float((v.detach() - trained[k]).abs().max()) for k, v in module.model.named_parameters() if k in trained)
        devices = {str(p.device.type) for p in module.model.parameters()}
        reference = module._reference[0] if module._reference else None
        if reference is not None:
            devices |= {str(p.device.type) for p in reference.parameters()}
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in module.model.parameters() if p.requires_grad})
        kl = float(results["decomposer"]["kl_ref"].peek())
        assert moved > 0 and devices == {device} and np.isfinite(kl), (moved, devices, kl)
        out.append(f"{name}: update {seconds:.2f} s, trained dtype {'/'.join(dtypes)}, on {'/'.join(sorted(devices))}, "
                   f"kl_ref {kl:.1e}, sync {payload_nbytes(module.sync_payload()):,} B")
    return "; ".join(out)


def vllm_grpo(policy: Path) -> str:
    """Two GRPO iterations whose decomposer samples with vLLM on the GPU while the learner trains a LoRA adapter in
    bfloat16 there: the rollout correction (``train.tis_cap``) weights every token, and after each update the actor
    loads base + adapter merged; returns what it measured."""
    import ray

    from orchestration.config import load_config
    from orchestration.grpo.config import build_grpo_config

    sets = ["agents.decomposer={backend: vllm, model: %s, num_gpus: 1, options: {temperature: 1.0, "
            "gpu_memory_utilization: 0.2, max_model_len: 512}}" % policy,
            "rewards.decomposer=[{name: format}]", "train.tis_cap=2.0", "train.group_size=4", "train.tasks_per_iteration=4",
            "train.max_new_tokens=48", "train.learner={device: cuda, dtype: bfloat16}",
            "train.agents={decomposer: {lora: {r: 8, alpha: 16}}}"]
    ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    algo = build_grpo_config(load_config("imageedit_r1", sets)).build_algo()
    try:
        rows = [algo.train()["grpo"] for _ in range(2)]
    finally:
        algo.stop()
    last = rows[-1]
    assert last["weights_version"] >= 2 and 0 < last["decomposer/tis_weight_mean"] <= 2.0, last
    return (f"2 iterations, reward {rows[0]['decomposer/reward']:.3f} -> {last['decomposer/reward']:.3f}; TIS weight mean "
            f"{last['decomposer/tis_weight_mean']:.4f}, truncated {last['decomposer/tis_truncated_share']:.4f}, "
            f"KL(vLLM || learner) {last['decomposer/tis_kl']:.2e}; merged sync {last['sync_bytes']:,.0f} B")


if __name__ == "__main__":
    sys.exit(main())
