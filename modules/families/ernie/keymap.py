"""File-format names of Ernie Image: its native names are the diffusers module paths (the original
checkpoints differ at most by a `model.diffusion_model.` prefix), no projection is fused, and
LEGACY_LORA keeps the in-memory adapter names."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from modules.formats.keymap import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

NATIVE_ROOTS = frozenset({"x_embedder", "text_proj", "time_proj", "time_embedding", "adaLN_modulation", "layers",
                          "final_norm", "final_linear"})

# compound segment names, to undo kohya's `.` -> `_` flattening
VOCABULARY = NATIVE_ROOTS | frozenset({
    "self_attention", "to_q", "to_k", "to_v", "to_out", "norm_q", "norm_k", "adaLN_sa_ln", "adaLN_mlp_ln",
    "gate_proj", "up_proj", "linear_fc2", "linear_1", "linear_2",
})


def native_map(config: Mapping | None) -> PrefixMap:
    return PrefixMap(Rule(root, root) for root in sorted(NATIVE_ROOTS))


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """ORIGINAL_TRANSFORMER keeps every weight under its diffusers name."""
    return dict(state_dict)


ERNIE = FamilyKeymap(
    name="ernie",
    model_types=frozenset({"ERNIE"}),
    denoiser="transformer",
    text_encoders=(TextEncoderKeys("text_encoder", "lora_te", None, "mistral", "mistral"),),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=True,
    legacy_lora_canonical=True,
    # ORIGINAL_TRANSFORMER (and LEGACY_SAFETENSORS): the transformer alone
    single_file=(SingleFileComponent("transformer", "", transformer_to_original),),
    pipelines={"ERNIE": "ErnieImagePipeline"},
)

KEYMAPS = (ERNIE,)
