"""A tiny ``FluxKontextPipeline`` built from configs, for tests and smoke scripts (nothing is downloaded).

A one-double-block, one-single-block Flux transformer with guidance embeddings, a one-level-down VAE (latents at half
resolution, one channel, so a 32 px image is 64 packed tokens), a 2-layer CLIP text encoder and a 2-layer T5 encoder
whose tokenizers know only the letters a-z (built in memory). Untrained; every tensor takes the path a real
checkpoint's takes. The UNet counterpart is :func:`agents.diffusers_editor.save_tiny_instruct_pix2pix`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["save_tiny_flux_kontext"]

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def save_tiny_flux_kontext(path: str | Path, *, seed: int = 0) -> Path:
    """Build, save (``save_pretrained``) and return the directory of a tiny FLUX.1-Kontext pipeline."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in LETTERS:
            vocab[ch + suffix] = len(vocab)
    clip_tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)] + [(c, -1.0) for c in LETTERS]
    unigram = Tokenizer(models.Unigram(pieces, unk_id=2))
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    t5_tokenizer = T5TokenizerFast(tokenizer_object=unigram, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   extra_ids=0, model_max_length=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16, axes_dims_rope=[4, 4, 8],
            guidance_embeds=True)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16, intermediate_size=32, num_attention_heads=2,
            num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=16, projection_dim=16))
        text_encoder_2 = T5EncoderModel(T5Config(
            vocab_size=len(pieces), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
        vae = AutoencoderKL(
            sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4, 8), layers_per_block=1,
            latent_channels=1, norm_num_groups=1, down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2, use_quant_conv=False, use_post_quant_conv=False,
            shift_factor=0.0609, scaling_factor=1.5035)
    pipeline = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer,
        text_encoder_2=text_encoder_2, tokenizer_2=t5_tokenizer, transformer=transformer)
    path = Path(path)
    pipeline.save_pretrained(path)
    return path
