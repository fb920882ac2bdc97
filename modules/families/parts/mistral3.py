"""Mistral 3 text encoders (Flux 2 dev): prompts wrapped in the Mistral chat layout with a system
message, tokenized to a fixed length, hidden states read from chosen layers; and a tiny random
encoder with an in-memory byte-fallback tokenizer for tests.

The real model ships a Pixtral processor as its tokenizer; a plain tokenizer with the chat template
works the same for text-only prompts (message contents are lists of `{"type": "text"}` items, as the
processor's template expects)."""
from __future__ import annotations

import torch

# `[SYSTEM_PROMPT]…[/SYSTEM_PROMPT]`, `[INST]…[/INST]` per message; contents may be lists of text items
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set content = message['content'] %}"
    "{% if content is not string %}{% set content = content | map(attribute='text') | join('') %}{% endif %}"
    "{% if message['role'] == 'system' %}[SYSTEM_PROMPT]{{ content }}[/SYSTEM_PROMPT]"
    "{% elif message['role'] == 'user' %}[INST]{{ content }}[/INST]"
    "{% else %}{{ content }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)

SPECIAL_TOKENS = ("[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[INST]", "[/INST]", "[IMG]")


def messages(texts: list[str], system_message: str) -> list[list[dict]]:
    """One two-message chat per caption: the system message, then the caption as the user's turn."""
    return [[{"role": "system", "content": [{"type": "text", "text": system_message}]},
             {"role": "user", "content": [{"type": "text", "text": text.replace("[IMG]", "")}]}]
            for text in texts]


def tokenize(tokenizer, texts: list[str], max_length: int, system_message: str
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids [B, L], attention mask [B, L]) of the chat-wrapped captions, padded to `max_length`."""
    tokens = tokenizer.apply_chat_template(messages(texts, system_message), add_generation_prompt=False,
                                           tokenize=True, return_dict=True, return_tensors="pt",
                                           padding="max_length", truncation=True, max_length=max_length)
    return tokens["input_ids"], tokens["attention_mask"]


def hidden_states(encoder, ids: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
    """The hidden states of `layers` (indices into the embedding output + every layer), each [B, L, D]."""
    device = next(encoder.parameters()).device
    out = encoder(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True,
                  use_cache=False)
    return [out.hidden_states[i] for i in layers]


def num_layers(encoder) -> int:
    config = encoder.config
    return int(getattr(config, "text_config", config).num_hidden_layers)


def hidden_size(encoder) -> int:
    config = encoder.config
    return int(getattr(config, "text_config", config).hidden_size)


# ---------------------------------------------------------------- tiny models for tests
def tiny_tokenizer(max_length: int = 1024):
    """A Llama-style tokenizer over single characters with byte fallback, the Mistral chat special
    tokens and the chat template, built in memory so that `save_pretrained` / `from_pretrained`
    round-trip it."""
    from transformers import LlamaTokenizerFast

    from .clip import CHARS

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for symbol in ("\u2581", *CHARS):
        vocab.setdefault(symbol, len(vocab))
    tokenizer = LlamaTokenizerFast(vocab=vocab, merges=[], model_max_length=max_length, unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", pad_token="<pad>", add_bos_token=False)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_encoder(tokenizer, hidden: int = 16, layers: int = 3, seed: int = 0):
    """A random `Mistral3ForConditionalGeneration` (a tiny Pixtral vision tower included) in eval mode."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(seed)
    config = Mistral3Config(
        text_config={"model_type": "mistral", "vocab_size": len(tokenizer), "hidden_size": hidden,
                     "intermediate_size": hidden * 2, "max_position_embeddings": 2048, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "head_dim": hidden // 2, "num_hidden_layers": layers,
                     "rms_norm_eps": 1e-5, "sliding_window": None, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        vision_config={"model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "intermediate_size": 32, "image_size": 32, "patch_size": 8, "num_channels": 3,
                       "head_dim": 8},
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"), spatial_merge_size=1,
        vision_feature_layer=-1)
    return Mistral3ForConditionalGeneration(config).eval()
