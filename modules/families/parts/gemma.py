"""Gemma 2 text encoders (Sana): captions behind Sana's complex human instruction, tokenized with
right padding, the last hidden state read, and only the begin token and the tail kept; and a tiny
random encoder with an in-memory byte-fallback tokenizer for tests.

Sana reads a caption as the instruction text followed by the caption, tokenized to the instruction's
token count plus `max_length − 2`; of the encoder's output it keeps position 0 (the begin token) and
the last `max_length − 1` positions, which start at the instruction's last token. Without the
instruction (negative prompts) the caption alone is tokenized to `max_length` and kept whole."""
from __future__ import annotations

import torch

# The instruction Sana's pipelines prepend to every prompt (one line each, joined with newlines).
COMPLEX_HUMAN_INSTRUCTION: tuple[str, ...] = (
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for "
    "image generation. Evaluate the level of detail in the user prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial "
    "relationships to create vivid and concrete scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly without "
    "overcomplicating.",
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping "
    "peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street "
    "lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass "
    "skyscrapers.",
    "Please generate only the enhanced description for the prompt below and avoid including any additional "
    "commentary or evaluations:",
    "User Prompt: ",
)


def instruction_text(instruction: tuple[str, ...] | list[str] | None = COMPLEX_HUMAN_INSTRUCTION) -> str:
    return "\n".join(instruction) if instruction else ""


def tokenize(tokenizer, texts: list[str], max_length: int,
             instruction: tuple[str, ...] | list[str] | None = COMPLEX_HUMAN_INSTRUCTION
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids [B, N], attention mask [B, N]) of the captions behind the instruction, right-padded to
    N = instruction tokens + `max_length` − 2 (without an instruction: N = `max_length`)."""
    tokenizer.padding_side = "right"
    prefix = instruction_text(instruction)
    total = len(tokenizer.encode(prefix)) + max_length - 2 if prefix else max_length
    tokens = tokenizer([prefix + t for t in texts], padding="max_length", max_length=total, truncation=True,
                       add_special_tokens=True, return_tensors="pt")
    return tokens.input_ids, tokens.attention_mask


def kept_positions(max_length: int) -> list[int]:
    """The positions Sana keeps of an instruction-prefixed encoding: the begin token and the tail."""
    return [0, *range(-max_length + 1, 0)]


def encode(encoder, tokenizer, texts: list[str], max_length: int,
           instruction: tuple[str, ...] | list[str] | None = COMPLEX_HUMAN_INSTRUCTION
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(last hidden state [B, max_length, D], attention mask [B, max_length]) as Sana's pipeline reads
    a prompt (with the instruction) or a negative prompt (`instruction=None`)."""
    ids, mask = tokenize(tokenizer, texts, max_length, instruction)
    device = next(encoder.parameters()).device
    mask = mask.to(device)
    hidden = encoder(ids.to(device), attention_mask=mask).last_hidden_state
    if instruction:
        keep = kept_positions(max_length)
        hidden, mask = hidden[:, keep], mask[:, keep]
    return hidden, mask


# ---------------------------------------------------------------- tiny models for tests
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>")


def tiny_tokenizer(max_length: int = 4096):
    """A Gemma tokenizer over single characters with byte fallback (no merges), built in memory so that
    `save_pretrained` / `from_pretrained` round-trip it; it prepends the begin token like Gemma's."""
    from transformers import GemmaTokenizer

    from .clip import CHARS

    vocab: dict[str, int] = {}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for symbol in ("\u2581", *CHARS, "*", "<", ">"):
        vocab.setdefault(symbol, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=[], model_max_length=max_length, add_bos_token=True, add_eos_token=False)


def tiny_config(tokenizer, hidden: int = 16, layers: int = 2, heads: int = 2, kv_heads: int = 1):
    from transformers import Gemma2Config

    return Gemma2Config(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                        head_dim=hidden // heads, max_position_embeddings=4096, sliding_window=4096,
                        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, attn_implementation="eager")


def tiny_encoder(tokenizer, hidden: int = 16, layers: int = 2, seed: int = 0, **kwargs):
    """A random `Gemma2Model` in eval mode."""
    from transformers import Gemma2Model

    torch.manual_seed(seed)
    return Gemma2Model(tiny_config(tokenizer, hidden, layers, **kwargs)).eval()
