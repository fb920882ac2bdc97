"""File-format names of CLIP text encoders, shared by the families that use OpenAI / OpenCLIP ones."""
from __future__ import annotations

from modules.formats.keymap import TextEncoderKeys

# CLIPTextModel has lost its `text_model` level in recent transformers; files keep it
CLIP_ROOT = "text_model."
CLIP_ROOTED_SEGMENTS = ("embeddings", "encoder", "final_layer_norm")

CLIP_VOCABULARY = frozenset({
    "text_model", "self_attn", "q_proj", "k_proj", "v_proj", "out_proj", "layer_norm1", "layer_norm2",
    "final_layer_norm", "text_projection", "token_embedding", "position_embedding",
})


def clip_text_encoder(part: str, kohya_prefix: str, comfy_name: str, embedding_key: str,
                      bundle_key: str) -> TextEncoderKeys:
    return TextEncoderKeys(part=part, kohya_prefix=kohya_prefix, comfy_name=comfy_name,
                           embedding_key=embedding_key, bundle_key=bundle_key,
                           root=CLIP_ROOT, rooted_segments=CLIP_ROOTED_SEGMENTS)
