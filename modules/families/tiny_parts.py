"""Tiny random components shared by the tiny-model builders (tests and the tiny_model CLI)."""
from __future__ import annotations

import string

import torch

CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".,!?'-:;()"


def clip_tokenizer(pad_token: str = "<|endoftext|>", max_length: int = 77):
    """Character-level CLIP tokenizer built in memory (no vocabulary files needed)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.setdefault(pad_token, len(vocab))
    for c in CHARS:
        for token in (c, c + "</w>"):
            vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length, pad_token=pad_token)


def clip_text_model(tokenizer, hidden: int = 32, layers: int = 2, with_projection: bool = False,
                    projection_dim: int = 32, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=layers, max_position_embeddings=77, projection_dim=projection_dim,
                         hidden_act="gelu", bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(cfg).eval()


def tiny_vae(scaling_factor: float, seed: int = 0):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         latent_channels=4, norm_num_groups=4, scaling_factor=scaling_factor, sample_size=32)
