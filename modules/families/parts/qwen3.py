"""Qwen3 text encoders (Z-Image, Flux 2 Klein): prompts wrapped in the Qwen chat template, tokenized
to a fixed length, hidden states read from chosen layers; and a tiny random encoder with an
in-memory byte-level tokenizer for tests.

`Qwen3Model` (Z-Image) and `Qwen3ForCausalLM` (Flux 2 Klein) are both accepted: the causal LM's
base model is used, its language-model head is never needed for conditioning."""
from __future__ import annotations

import torch

# The Qwen chat layout: `<|im_start|>role\ncontent<|im_end|>\n` per message, then the assistant turn;
# with thinking disabled the assistant turn starts with an empty think block.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)

SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<think>", "</think>")


def chat_prompts(tokenizer, texts: list[str], enable_thinking: bool = True) -> list[str]:
    """Each caption as the user message of a one-turn chat, followed by the assistant's turn."""
    return [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                          add_generation_prompt=True, enable_thinking=enable_thinking)
            for text in texts]


def tokenize(tokenizer, texts: list[str], max_length: int, enable_thinking: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids [B, L], attention mask [B, L]) of the chat-wrapped captions, padded to `max_length`."""
    tokens = tokenizer(chat_prompts(tokenizer, texts, enable_thinking), padding="max_length", max_length=max_length,
                       truncation=True, return_tensors="pt")
    return tokens.input_ids, tokens.attention_mask


def base_model(encoder):
    """The transformer body: `Qwen3Model` itself, or the `model` of a `Qwen3ForCausalLM`."""
    return encoder.model if hasattr(encoder, "lm_head") else encoder


def hidden_states(encoder, ids: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
    """The hidden states of `layers` (indices into the embedding output + every layer, negative from
    the end), each [B, L, D]."""
    body = base_model(encoder)
    device = next(body.parameters()).device
    out = body(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False)
    return [out.hidden_states[i] for i in layers]


def encode(encoder, tokenizer, texts: list[str], max_length: int, layer: int = -2, enable_thinking: bool = True
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states of `layer` [B, L, D], attention mask [B, L]); Z-Image reads the second to last
    layer with thinking enabled in the template."""
    ids, mask = tokenize(tokenizer, texts, max_length, enable_thinking)
    hidden = hidden_states(encoder, ids, mask, (layer,))[0]
    return hidden, mask.to(hidden.device)


def unpadded(hidden: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """One [tokens, D] tensor per sample holding only its unmasked tokens."""
    keep = mask.bool().to(hidden.device)
    return [hidden[i][keep[i]] for i in range(hidden.shape[0])]


# ---------------------------------------------------------------- tiny models for tests
def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins of byte-level BPE: printable Latin-1 bytes map to themselves, the
    rest to code points from 256 upwards, in byte order."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    symbols, extra = [], 0
    for b in range(256):
        if b in printable:
            symbols.append(chr(b))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def tiny_tokenizer(max_length: int = 512):
    """A byte-level Qwen2 tokenizer with no merges (every byte one token), the chat special tokens and
    the chat template, built in memory so that `save_pretrained` / `from_pretrained` round-trip it."""
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for symbol in _byte_symbols():
        vocab.setdefault(symbol, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=max_length, pad_token="<|endoftext|>",
                               eos_token="<|im_end|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_config(tokenizer, hidden: int = 32, layers: int = 2, heads: int = 2, kv_heads: int = 1):
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                       head_dim=hidden // heads, max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)


def tiny_encoder(tokenizer, hidden: int = 32, layers: int = 2, seed: int = 0, causal_lm: bool = False, **kwargs):
    """A random `Qwen3Model` (or `Qwen3ForCausalLM`) in eval mode."""
    from transformers import Qwen3ForCausalLM, Qwen3Model

    torch.manual_seed(seed)
    cls = Qwen3ForCausalLM if causal_lm else Qwen3Model
    return cls(tiny_config(tokenizer, hidden, layers, **kwargs)).eval()
