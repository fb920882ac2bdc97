"""T5 text encoders (Flux, SD3, PixArt, Chroma ...): encoding with an optional attention mask, and a
tiny random one for tests."""
from __future__ import annotations

import torch


def encode(encoder, tokenizer, texts: list[str], max_length: int, use_mask: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states [B, L, D], attention mask [B, L]). With `use_mask` the encoder ignores padding
    and padded positions come out as zeros; without it padding tokens are encoded like any other."""
    tokens = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    mask = tokens.attention_mask.to(encoder.device)
    hidden = encoder(tokens.input_ids.to(encoder.device), attention_mask=mask if use_mask else None).last_hidden_state
    if use_mask:
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
    return hidden, mask


def tiny_tokenizer(max_length: int = 32):
    """A T5 tokenizer over a character vocabulary (a Unigram model built in memory, so that
    `save_pretrained` and `from_pretrained` round-trip it)."""
    from transformers import T5TokenizerFast

    from .clip import CHARS

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((c, -1.0) for c in CHARS + "*"), ("\u2581", -1.0)]
    return T5TokenizerFast(vocab=vocab, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                           model_max_length=max_length, extra_ids=0)


def tiny_encoder(tokenizer, d_model: int = 32, layers: int = 2, seed: int = 0):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tokenizer), d_model=d_model, d_kv=8, d_ff=37, num_layers=layers, num_heads=4,
                   relative_attention_num_buckets=8, pad_token_id=tokenizer.pad_token_id,
                   eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=0)
    return T5EncoderModel(cfg).eval()
