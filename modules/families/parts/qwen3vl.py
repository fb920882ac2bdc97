"""Qwen3-VL text encoders (Krea 2): the language model of a Qwen3-VL read as a text encoder, its hidden
states taken from chosen layers with explicit multimodal rotary position ids; and a tiny random one
for tests.

Text tokens carry the same position on the three rotary axes (time, height, width), so a `[B, L]`
position grid is broadcast to the `[3, B, L]` that Qwen3-VL reads. The tiny tokenizer is the byte-level
Qwen tokenizer of `qwen3.py` with whole-word merges added for chosen words, so that a fixed prompt
template tokenizes into as many tokens as with the real tokenizer."""
from __future__ import annotations

import torch


def language_model(encoder):
    """The text transformer of a `Qwen3VLModel` (or of a `Qwen3VLForConditionalGeneration`'s `model`)."""
    body = encoder.model if hasattr(encoder, "lm_head") else encoder
    return body.language_model


def hidden_states(encoder, ids: torch.Tensor, mask: torch.Tensor, layers: tuple[int, ...],
                  positions: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The hidden states of `layers` (indices into the embedding output followed by every layer), each
    [B, L, D]. `positions` [B, L] are the text positions (default: 0, 1, 2 ... per row)."""
    body = language_model(encoder)
    device = next(body.parameters()).device
    mask = mask.to(device)
    if positions is None:
        positions = torch.arange(ids.shape[1], device=device).expand(ids.shape[0], -1)
    position_ids = positions.to(device).unsqueeze(0).expand(3, -1, -1)
    out = body(input_ids=ids.to(device), attention_mask=mask.bool(), position_ids=position_ids,
               output_hidden_states=True, use_cache=False)
    return [out.hidden_states[i] for i in layers]


def counted_positions(mask: torch.Tensor) -> torch.Tensor:
    """[B, L] positions that count only the kept tokens (a padding token takes no position)."""
    return (mask.long().cumsum(dim=-1) - 1).clamp(min=0)


# ---------------------------------------------------------------- tiny models for tests
def _byte_level(text: str, byte_symbols: dict[int, str]) -> str:
    return "".join(byte_symbols[b] for b in text.encode("utf-8"))


def tiny_tokenizer(words: tuple[str, ...] = (), max_length: int = 1024):
    """A byte-level Qwen2 tokenizer (vocabulary and special tokens of `qwen3.tiny_tokenizer`) with
    merges that join each of `words` (with its leading space, where it has one) into one token;
    built in memory so that `save_pretrained` / `from_pretrained` round-trip it."""
    from transformers import Qwen2Tokenizer

    from . import qwen3

    base = qwen3.tiny_tokenizer(max_length)
    vocab = dict(base.get_vocab())
    byte_symbols = dict(enumerate(base.convert_ids_to_tokens(list(range(1, 257)))))
    merges: list[tuple[str, str]] = []
    for word in words:
        symbols = _byte_level(word, byte_symbols)
        for end in range(2, len(symbols) + 1):
            pair = (symbols[: end - 1], symbols[end - 1])
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(symbols[:end], len(vocab))
    specials = [t for t in base.all_special_tokens if t not in ("<|endoftext|>",)]
    vocab = {k: v for k, v in vocab.items() if k not in specials}
    vocab = {k: i for i, k in enumerate(sorted(vocab, key=vocab.get))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, model_max_length=max_length, pad_token="<|endoftext|>",
                               eos_token="<|im_end|>", padding_side="right")
    tokenizer.add_special_tokens({"additional_special_tokens": [t for t in specials if t != "<|im_end|>"]})
    tokenizer.chat_template = base.chat_template
    return tokenizer


def tiny_encoder(tokenizer, hidden: int = 16, layers: int = 3, seed: int = 0):
    """A random `Qwen3VLModel` in eval mode with a one-block vision tower (never used for text)."""
    from transformers import Qwen3VLConfig, Qwen3VLModel

    heads = 2
    head_dim = hidden // heads
    quarter = head_dim // 4
    config = Qwen3VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": hidden * 2,
                     "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": 1,
                     "head_dim": head_dim, "max_position_embeddings": 2048, "pad_token_id": tokenizer.pad_token_id,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                         "mrope_section": [head_dim // 2 - 2 * quarter, quarter, quarter],
                                         "mrope_interleaved": True}},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": hidden, "patch_size": 2, "num_position_embeddings": 16,
                       "deepstack_visual_indexes": [0]})
    torch.manual_seed(seed)
    return Qwen3VLModel(config).eval()


# ---------------------------------------------------------------- prompts as content lists (Ideogram 4)
# The Qwen-VL chat layout for messages whose content is a list of items; the text items concatenated.
CONTENT_LIST_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chat_token_ids(tokenizer, text: str) -> list[int]:
    """The ids of one caption as a one-item user turn, followed by the assistant's turn."""
    messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
    chat = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(chat, add_special_tokens=False)["input_ids"]


def left_padded(tokenizer, texts: list[str], max_length: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids [B, L], attention mask [B, L], positions [B, L]) of the chat-wrapped captions, each cut to
    `max_length` tokens and left-padded to the longest; a caption's positions count from 0 at its
    first token."""
    rows = [chat_token_ids(tokenizer, t) for t in texts]
    if max_length is not None:
        rows = [r[:max_length] for r in rows]
    length = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    positions = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        offset = length - len(row)
        ids[i, offset:] = torch.tensor(row, dtype=torch.long)
        mask[i, offset:] = 1
        positions[i, offset:] = torch.arange(len(row))
    return ids, mask, positions


def layer_outputs(encoder, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                  layers: tuple[int, ...]) -> list[torch.Tensor]:
    """The outputs of decoder layers `layers` (layer indices; the last layer's output before the
    final norm), each [B, L, D]. Only the layers up to the deepest one asked for run."""
    from transformers.masking_utils import create_causal_mask

    body = language_model(encoder)
    device = body.embed_tokens.weight.device
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    hidden = body.embed_tokens(ids)
    causal = create_causal_mask(body.config, hidden, mask, None, position_ids=positions)
    rotary = body.rotary_emb(hidden, positions[None].expand(3, *positions.shape))
    wanted = set(layers)
    captured: dict[int, torch.Tensor] = {}
    for index, layer in enumerate(body.layers[: max(layers) + 1]):
        hidden = layer(hidden, attention_mask=causal, position_ids=positions, position_embeddings=rotary)
        if index in wanted:
            captured[index] = hidden
    return [captured[i] for i in layers]
