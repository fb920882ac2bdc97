"""A random tiny Anima model: the Cosmos transformer, the Anima text conditioner, a Qwen3 text encoder with
its tokenizer, the T5 tokenizer whose ids the conditioner embeds, the Qwen-Image autoencoder and a
flow-matching scheduler.

It is saved as the released diffusers folder is (diffusers' Anima converter saves the modular pipeline):
one sub-folder per component and `modular_model_index.json`, no `model_index.json`. diffusers 0.42 has
Anima only as a modular pipeline (`AnimaModularPipeline`, no `DiffusionPipeline` class), so
`ModularPipeline.from_pretrained` + `load_components` load it, not `DiffusionPipeline.from_pretrained`."""
from __future__ import annotations

from pathlib import Path

import torch

from ..parts import qwen3, qwen_image_vae, t5

LATENT_CHANNELS = 16
TEXT_WIDTH = 32  # the Qwen3 hidden size the conditioner reads
CONDITION_WIDTH = 32  # the conditioner's output width = the transformer's text width


def tiny_transformer(seed: int = 0):
    from diffusers import CosmosTransformer3DModel

    torch.manual_seed(seed)
    return CosmosTransformer3DModel(
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, num_attention_heads=2, attention_head_dim=16,
        num_layers=2, mlp_ratio=2.0, text_embed_dim=CONDITION_WIDTH, adaln_lora_dim=8, max_size=(4, 64, 64),
        patch_size=(1, 2, 2), rope_scale=(1.0, 4.0, 4.0), concat_padding_mask=True, extra_pos_embed_type=None)


def tiny_conditioner(vocab_size: int, seed: int = 0):
    from diffusers import AnimaTextConditioner

    torch.manual_seed(seed)
    return AnimaTextConditioner(source_dim=TEXT_WIDTH, target_dim=CONDITION_WIDTH, model_dim=CONDITION_WIDTH,
                                num_layers=2, num_attention_heads=2, mlp_ratio=2.0, target_vocab_size=vocab_size,
                                min_sequence_length=16)


def tiny_components(seed: int = 0) -> dict:
    from diffusers import FlowMatchEulerDiscreteScheduler

    tokenizer = qwen3.tiny_tokenizer()
    t5_tokenizer = t5.tiny_tokenizer(max_length=512)
    return {
        "transformer": tiny_transformer(seed),
        "text_conditioner": tiny_conditioner(len(t5_tokenizer), seed + 2),
        "text_encoder": qwen3.tiny_encoder(tokenizer, hidden=TEXT_WIDTH, seed=seed + 1),
        "tokenizer": tokenizer,
        "t5_tokenizer": t5_tokenizer,
        "vae": qwen_image_vae.tiny(seed),
        "scheduler": FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False, base_shift=0.5, max_shift=1.15,
            base_image_seq_len=256, max_image_seq_len=4096),
    }


def build_tiny_anima(out_dir, seed: int = 0) -> Path:
    from diffusers import AnimaAutoBlocks

    out = Path(out_dir)
    pipe = AnimaAutoBlocks().init_pipeline()
    pipe.update_components(**tiny_components(seed))
    pipe.save_pretrained(str(out), overwrite_modular_index=True)
    return out
