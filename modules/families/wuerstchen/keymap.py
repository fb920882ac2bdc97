"""File-format names of Würstchen v2. Adapter conventions name the prior's modules as diffusers does
(`blocks.{i}.attention.to_q`, `blocks.{i}.kv_mapper.1`, `cond_mapper.0` ...): the native map is the
identity. The CLIP text encoder keeps its transformers names under `lora_te` (kohya); its embedding
tensors are `clip_g`. Würstchen v2 has no LEGACY_LORA layout and no ComfyUI text-encoder name."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from modules.families.parts.clip_keys import CLIP_VOCABULARY, clip_text_encoder
from modules.formats.keymap import FamilyKeymap
from modules.formats.prefix_map import PrefixMap, Rule

NATIVE_ROOTS = frozenset({"projection", "cond_mapper", "blocks", "out"})
PRIOR_VOCABULARY = frozenset({"cond_mapper", "kv_mapper", "to_q", "to_k", "to_v", "to_out"})


@cache
def _identity() -> PrefixMap:
    return PrefixMap(Rule(root, root) for root in NATIVE_ROOTS)


def native_map(config: Mapping | None) -> PrefixMap:
    return _identity()


WUERSTCHEN = FamilyKeymap(
    name="wuerstchen",
    model_types=frozenset({"WUERSTCHEN_2"}),
    denoiser="prior",
    text_encoders=(clip_text_encoder("text_encoder", "lora_te", None, "clip_g", "clip_g"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=PRIOR_VOCABULARY | CLIP_VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    pipelines={"WUERSTCHEN_2": "WuerstchenPriorPipeline"},
)

KEYMAPS = (WUERSTCHEN,)
