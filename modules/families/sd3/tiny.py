"""A random tiny SD3 / SD3.5 model saved as a diffusers folder."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import clip, t5
from ..parts import vae as vae_part

# CLIP-L and CLIP-G differ in width, as in the real model (diffusers' single-file loader tells them
# apart by it); their joined width (32 + 48) is padded to the T5 width, the transformer's context width
CLIP_L_WIDTH, CLIP_G_WIDTH, T5_WIDTH = 32, 48, 96


def tiny_t5(tokenizer, seed: int):
    """A gated-GELU T5 encoder (the T5 v1.1 kind SD3 uses: `wi_0`, `wi_1`)."""
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tokenizer), d_model=T5_WIDTH, d_kv=8, d_ff=40, num_layers=2, num_heads=4,
                   relative_attention_num_buckets=8, feed_forward_proj="gated-gelu",
                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                   decoder_start_token_id=0)
    return T5EncoderModel(cfg).eval()


def build_tiny_sd3(model_type, out_dir, seed: int = 0) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    tokenizer, tokenizer_2, tokenizer_3 = clip.tiny_tokenizer(), clip.tiny_tokenizer(pad_token="!"), t5.tiny_tokenizer()
    text_encoder = clip.tiny_text_model(tokenizer, hidden=CLIP_L_WIDTH, with_projection=True,
                                        projection_dim=CLIP_L_WIDTH, seed=seed)
    text_encoder_2 = clip.tiny_text_model(tokenizer_2, hidden=CLIP_G_WIDTH, with_projection=True,
                                          projection_dim=CLIP_G_WIDTH, seed=seed + 1)
    text_encoder_3 = tiny_t5(tokenizer_3, seed + 2)
    extra = {"qk_norm": "rms_norm", "dual_attention_layers": (0,)} if model_type.is_stable_diffusion_3_5() else {}
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=16, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=T5_WIDTH,
        pooled_projection_dim=CLIP_L_WIDTH + CLIP_G_WIDTH, pos_embed_max_size=32, **extra)
    vae = vae_part.tiny(1.5305, seed, latent_channels=16, shift_factor=0.0609)
    vae.register_to_config(use_quant_conv=False, use_post_quant_conv=False)
    vae.quant_conv = vae.post_quant_conv = None
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                                    tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                                    text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3)
    out = Path(out_dir)
    pipe.save_pretrained(out)
    return out
