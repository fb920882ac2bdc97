"""Qwen2.5-VL as a text encoder (Qwen-Image): each caption wrapped in the Qwen-Image prompt template,
the last hidden state read, the template's leading tokens dropped; and a tiny random encoder with an
in-memory byte-level tokenizer for tests.

Only the language model conditions: the vision tower and the language-model head are never run, and
adapters leave them out (`language_modules`)."""
from __future__ import annotations

import re

import torch

# the system turn that describes the task, then the caption as the user turn and the assistant's turn
PROMPT_TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, spatial "
    "relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
    "<|im_start|>assistant\n"
)
# tokens of the template before the caption (system turn and user header) with the real tokenizer: dropped
TEMPLATE_START = 34
MAX_LENGTH = 1024  # the longest caption the Qwen-Image pipeline accepts, in tokens

SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                  "<|video_pad|>")


def language_model(encoder):
    """The decoder body (`Qwen2_5_VLTextModel`) of a `Qwen2_5_VLForConditionalGeneration`."""
    return encoder.model.language_model if hasattr(encoder, "model") else encoder.language_model


def language_modules(encoder, names: list[str]) -> list[str]:
    """The module names of `names` that belong to the language model (not the vision tower, not the LM head)."""
    return [n for n in names if ".visual." not in f".{n}." and not n.startswith("lm_head")]


def tokenize(tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of the templated captions, cut to TEMPLATE_START + `length` tokens and padded
    on the right to the longest of them."""
    tokens = tokenizer([PROMPT_TEMPLATE.format(t) for t in texts], padding="longest",
                       max_length=TEMPLATE_START + length, truncation=True, padding_side="right", return_tensors="pt")
    return tokens.input_ids, tokens.attention_mask


def encode(encoder, tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states [B, length, D], mask [B, length]) of the caption part of the template: the last
    hidden state from token TEMPLATE_START on, padding positions zero, as the Qwen-Image pipeline
    encodes (which stops at the longest caption instead of `length`). The encoder reads the batch
    padded to its longest caption only: its attention is causal, so later padding changes nothing."""
    ids, mask = tokenize(tokenizer, texts, length)
    body = language_model(encoder)
    device = next(body.parameters()).device
    mask = mask.to(device)
    hidden = body(input_ids=ids.to(device), attention_mask=mask, output_hidden_states=True,
                  use_cache=False).hidden_states[-1]
    hidden, mask = hidden[:, TEMPLATE_START:], mask[:, TEMPLATE_START:]
    hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
    missing = length - hidden.shape[1]  # to the fixed length, so that cached encodings stack
    if missing > 0:
        hidden = torch.cat([hidden, hidden.new_zeros(hidden.shape[0], missing, hidden.shape[2])], dim=1)
        mask = torch.cat([mask, mask.new_zeros(mask.shape[0], missing)], dim=1)
    return hidden, mask


# ---------------------------------------------------------------- tiny models for tests
def _byte_symbols() -> list[str]:
    """Byte-level BPE's printable stand-in for each byte, in byte order."""
    kept = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    symbols, extra = {}, 0
    for b in range(256):
        if b in kept:
            symbols[b] = chr(b)
        else:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def tiny_tokenizer(max_length: int = 4096):
    """A byte-level Qwen2 tokenizer without merges (one token per byte) with the chat and vision special
    tokens, built in memory so that `save_pretrained` / `from_pretrained` round-trip it."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for symbol in _byte_symbols():
        vocab.setdefault(symbol, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=max_length, pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    # the template's words as whole tokens, so that its leading part is TEMPLATE_START tokens long, as
    # with the real tokenizer, and dropping them leaves exactly the caption and the template's tail
    tokenizer.add_tokens([AddedToken(piece, normalized=False, special=False) for piece in _template_words()])
    return tokenizer


def _template_words() -> list[str]:
    text = PROMPT_TEMPLATE.replace("{}", "").replace("<|im_start|>", "").replace("<|im_end|>", "")
    return sorted(set(re.findall(r" ?[A-Za-z]+|[,:\n]", text)), key=len, reverse=True)


def tiny_encoder(tokenizer, hidden: int = 32, layers: int = 2, seed: int = 0):
    """A random `Qwen2_5_VLForConditionalGeneration` (one-block vision tower) in eval mode."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    heads = 2
    head_dim = hidden // heads
    token = tokenizer.convert_tokens_to_ids
    text = {"hidden_size": hidden, "intermediate_size": hidden + 5, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": 1, "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096, "rope_theta": 1000000.0,
            # multimodal rotary sections (temporal, height, width) that fill half a head
            "rope_scaling": {"rope_type": "default", "type": "default",
                             "mrope_section": [head_dim // 8, head_dim // 8, head_dim // 2 - head_dim // 4]},
            "bos_token_id": token("<|endoftext|>"), "eos_token_id": token("<|im_end|>"),
            "pad_token_id": tokenizer.pad_token_id}
    vision = {"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": hidden}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, vocab_size=len(tokenizer),
                              vision_start_token_id=token("<|vision_start|>"), vision_end_token_id=token("<|vision_end|>"),
                              image_token_id=token("<|image_pad|>"), video_token_id=token("<|video_pad|>"),
                              bos_token_id=token("<|endoftext|>"), eos_token_id=token("<|im_end|>"),
                              pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config).eval()
