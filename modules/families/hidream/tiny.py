"""A random tiny HiDream-I1 model saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, llama, t5
from ..parts import vae as vae_part

# CLIP-L and CLIP-G differ in width, as in the real model; their projected pooled outputs are joined
CLIP_L_WIDTH, CLIP_G_WIDTH, T5_WIDTH, LLAMA_WIDTH = 32, 48, 32, 16
# the pipeline reads up to 128 tokens from every encoder, the CLIPs included (HiDream's have 248 positions)
SEQUENCE_LENGTH = 128
LATENT_CHANNELS = 16


def tiny_clip(tokenizer, hidden: int, seed: int):
    """A CLIP text encoder with a projection and room for the 128 tokens the pipeline gives it."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=2, max_position_embeddings=SEQUENCE_LENGTH, projection_dim=hidden,
                         hidden_act="gelu", bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return CLIPTextModelWithProjection(cfg).eval()


def build_tiny_hidream(out_dir, seed: int = 0) -> Path:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        HiDreamImagePipeline,
        HiDreamImageTransformer2DModel,
    )

    tokenizer = clip.tiny_tokenizer(max_length=SEQUENCE_LENGTH)
    tokenizer_2 = clip.tiny_tokenizer(pad_token="!", max_length=SEQUENCE_LENGTH)
    tokenizer_3 = t5.tiny_tokenizer(max_length=SEQUENCE_LENGTH)
    tokenizer_4 = llama.tiny_tokenizer(max_length=SEQUENCE_LENGTH)
    text_encoder = tiny_clip(tokenizer, CLIP_L_WIDTH, seed)
    text_encoder_2 = tiny_clip(tokenizer_2, CLIP_G_WIDTH, seed + 1)
    text_encoder_3 = t5.tiny_encoder(tokenizer_3, d_model=T5_WIDTH, seed=seed + 2)
    text_encoder_4 = llama.tiny_encoder(tokenizer_4, hidden=LLAMA_WIDTH, layers=2, seed=seed + 3)
    torch.manual_seed(seed)
    # two double-stream and two single-stream blocks, each reading one Llama layer (as the real
    # model's 16 + 32 blocks read its 32 layers)
    transformer = HiDreamImageTransformer2DModel(
        patch_size=2, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, num_layers=2, num_single_layers=2,
        attention_head_dim=8, num_attention_heads=4, caption_channels=[T5_WIDTH, LLAMA_WIDTH],
        text_emb_dim=CLIP_L_WIDTH + CLIP_G_WIDTH, num_routed_experts=4, num_activated_experts=2,
        axes_dims_rope=(4, 2, 2), max_resolution=(32, 32), llama_layers=[0, 1, 1, 0])
    vae = vae_part.tiny(0.3611, seed, latent_channels=LATENT_CHANNELS, shift_factor=0.1159)
    vae.register_to_config(use_quant_conv=False, use_post_quant_conv=False)
    vae.quant_conv = vae.post_quant_conv = None
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = HiDreamImagePipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, text_encoder_3=text_encoder_3,
                                tokenizer_3=tokenizer_3, text_encoder_4=text_encoder_4, tokenizer_4=tokenizer_4,
                                transformer=transformer)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
