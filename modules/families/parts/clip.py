"""CLIP text encoders: tokenizing, hidden states with layer skip, and tiny random ones for tests."""
from __future__ import annotations

import string

import torch

CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".,!?'-:;()"


def tokenize(tokenizer, texts: list[str], length: int | None = None) -> torch.Tensor:
    length = min(length or tokenizer.model_max_length, tokenizer.model_max_length)
    return tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt").input_ids


def final_norm(encoder, hidden: torch.Tensor) -> torch.Tensor:
    norm = encoder.text_model.final_layer_norm if hasattr(encoder, "text_model") else encoder.final_layer_norm
    return norm(hidden)


def last_hidden(encoder, ids: torch.Tensor, layer_skip: int = 0) -> torch.Tensor:
    """The last hidden state, or the one `layer_skip` layers earlier passed through the final norm
    (what "clip skip" means for SD 1.x/2.x)."""
    if layer_skip <= 0:
        return encoder(ids.to(encoder.device)).last_hidden_state
    out = encoder(ids.to(encoder.device), output_hidden_states=True)
    return final_norm(encoder, out.hidden_states[-(1 + layer_skip)])


def tiny_tokenizer(pad_token: str = "<|endoftext|>", max_length: int = 77):
    """Character-level CLIP tokenizer built in memory (no vocabulary files needed)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.setdefault(pad_token, len(vocab))
    for c in CHARS:
        for token in (c, c + "</w>"):
            vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length, pad_token=pad_token)


def tiny_text_model(tokenizer, hidden: int = 32, layers: int = 2, with_projection: bool = False,
                    projection_dim: int = 32, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=layers, max_position_embeddings=77, projection_dim=projection_dim,
                         hidden_act="gelu", bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(cfg).eval()
