"""Llama text encoders (HiDream's Llama 3.1): captions tokenized to a fixed length with an attention
mask, the hidden states of every layer read at once; and a tiny random encoder with an in-memory
byte-level tokenizer for tests.

`LlamaModel` and `LlamaForCausalLM` are both accepted: the causal LM's base model is used, its
language-model head is never needed for conditioning."""
from __future__ import annotations

import torch

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"

# compound (underscore-containing) module names of Llama, to undo kohya's `.` -> `_` flattening
VOCABULARY = frozenset({"embed_tokens", "self_attn", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                        "up_proj", "down_proj", "input_layernorm", "post_attention_layernorm", "lm_head"})


def tokenize(tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids [B, L], attention mask [B, L]) padded to `max_length`, with the tokenizer's special
    tokens (Llama 3: the begin-of-text token first)."""
    tokens = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True,
                       add_special_tokens=True, return_tensors="pt")
    return tokens.input_ids, tokens.attention_mask


def base_model(encoder):
    """The transformer body: `LlamaModel` itself, or the `model` of a `LlamaForCausalLM`."""
    return encoder.model if hasattr(encoder, "lm_head") else encoder


def all_hidden_states(encoder, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The embedding output and the output of every layer, each [B, L, D]."""
    body = base_model(encoder)
    device = next(body.parameters()).device
    out = body(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False)
    return tuple(out.hidden_states)


def encode_layers(encoder, tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(the output of every layer stacked batch-first [B, layers, L, D], attention mask [B, L]): what
    HiDream's transformer picks its per-block conditioning from (the embedding output left out)."""
    ids, mask = tokenize(tokenizer, texts, max_length)
    states = all_hidden_states(encoder, ids, mask)[1:]
    stacked = torch.stack(states, dim=1)
    return stacked, mask.to(stacked.device)


# ---------------------------------------------------------------- tiny models for tests
def tiny_tokenizer(max_length: int = 128):
    """A byte-level BPE tokenizer with no merges (every byte one token) and Llama 3's begin/end-of-text
    tokens, the begin token prepended to every text; built in memory so that `save_pretrained` /
    `from_pretrained` round-trip it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {BOS: 0, EOS: 1}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                           special_tokens=[(BOS, 0)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=EOS,
                                   model_max_length=max_length)


def tiny_config(tokenizer, hidden: int = 16, layers: int = 2, heads: int = 4, kv_heads: int = 2):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2 + 5,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                       max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                       tie_word_embeddings=False)


def tiny_encoder(tokenizer, hidden: int = 16, layers: int = 2, seed: int = 0, causal_lm: bool = True, **kwargs):
    """A random `LlamaForCausalLM` (or `LlamaModel`) in eval mode."""
    from transformers import LlamaForCausalLM, LlamaModel

    torch.manual_seed(seed)
    cls = LlamaForCausalLM if causal_lm else LlamaModel
    return cls(tiny_config(tokenizer, hidden, layers, **kwargs)).eval()
