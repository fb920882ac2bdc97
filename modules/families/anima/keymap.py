"""File-format names of Anima.

The native names are those of the released Cosmos Predict2 / Anima checkpoint: `blocks.{i}` with
`self_attn` / `cross_attn` (`q_proj`, `k_proj`, `v_proj`, `output_proj`, `q_norm`, `k_norm`), `mlp`
(`layer1`, `layer2`) and the three `adaln_modulation_*` pairs; `x_embedder.proj.1`, `t_embedder.1`,
`t_embedding_norm` and `final_layer` around them. No projection is fused. ORIGINAL_TRANSFORMER
writes the transformer under `net.` and the text conditioner (the checkpoint's LLM adapter) under
`net.llm_adapter.` with its own names; adapter files name the transformer natively (COMFY_LORA under
`diffusion_model.`). LEGACY_LORA does not exist for Anima."""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import torch

from modules.formats.keymap import FamilyKeymap, SingleFileComponent, TextEncoderKeys
from modules.formats.prefix_map import PrefixMap, Rule

LAYERS = 28  # the released transformer's blocks
PREFIX = "net."
ADAPTER_PREFIX = "net.llm_adapter."

BLOCK_LEAVES = {
    "attn1.to_q": "self_attn.q_proj",
    "attn1.to_k": "self_attn.k_proj",
    "attn1.to_v": "self_attn.v_proj",
    "attn1.to_out.0": "self_attn.output_proj",
    "attn1.norm_q": "self_attn.q_norm",
    "attn1.norm_k": "self_attn.k_norm",
    "attn2.to_q": "cross_attn.q_proj",
    "attn2.to_k": "cross_attn.k_proj",
    "attn2.to_v": "cross_attn.v_proj",
    "attn2.to_out.0": "cross_attn.output_proj",
    "attn2.norm_q": "cross_attn.q_norm",
    "attn2.norm_k": "cross_attn.k_norm",
    "ff.net.0.proj": "mlp.layer1",
    "ff.net.2": "mlp.layer2",
    "norm1.linear_1": "adaln_modulation_self_attn.1",
    "norm1.linear_2": "adaln_modulation_self_attn.2",
    "norm2.linear_1": "adaln_modulation_cross_attn.1",
    "norm2.linear_2": "adaln_modulation_cross_attn.2",
    "norm3.linear_1": "adaln_modulation_mlp.1",
    "norm3.linear_2": "adaln_modulation_mlp.2",
}
ROOT_RULES = (
    ("patch_embed.proj", "x_embedder.proj.1"),
    ("time_embed.t_embedder", "t_embedder.1"),
    ("time_embed.norm", "t_embedding_norm"),
    ("learnable_pos_embed", "extra_pos_embedder"),
    ("norm_out.linear_1", "final_layer.adaln_modulation.1"),
    ("norm_out.linear_2", "final_layer.adaln_modulation.2"),
    ("proj_out", "final_layer.linear"),
)
NATIVE_ROOTS = frozenset({"blocks", "x_embedder", "t_embedder", "t_embedding_norm", "extra_pos_embedder",
                          "final_layer"})
VOCABULARY = frozenset({
    "transformer_blocks", "to_q", "to_k", "to_v", "to_out", "norm_q", "norm_k", "linear_1", "linear_2",
    "patch_embed", "time_embed", "t_embedder", "norm_out", "proj_out", "learnable_pos_embed",
    "self_attn", "cross_attn", "q_proj", "k_proj", "v_proj", "output_proj", "q_norm", "k_norm",
    "adaln_modulation_self_attn", "adaln_modulation_cross_attn", "adaln_modulation_mlp", "adaln_modulation",
    "x_embedder", "t_embedding_norm", "extra_pos_embedder", "final_layer",
})


@cache
def _native_map(layers: int) -> PrefixMap:
    rules = [Rule(source, target) for source, target in ROOT_RULES]
    rules += [Rule(f"transformer_blocks.{i}", f"blocks.{i}", BLOCK_LEAVES) for i in range(layers)]
    return PrefixMap(rules)


def native_map(config: Mapping | None) -> PrefixMap:
    """diffusers <-> native module paths of a transformer with `config` (None: the released model's)."""
    return _native_map(int(config.get("num_layers", LAYERS)) if config is not None else LAYERS)


def transformer_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The transformer's weights under the native names (the caller adds `net.`)."""
    return native_map(config).convert_state_dict({k: v.detach() for k, v in state_dict.items()})


def conditioner_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """The text conditioner keeps its names inside the checkpoint's `llm_adapter`."""
    return {k: v.detach() for k, v in state_dict.items()}


QWEN3 = TextEncoderKeys(part="text_encoder", kohya_prefix="lora_te", comfy_name=None, embedding_key="qwen3",
                        bundle_key="qwen3")

ANIMA = FamilyKeymap(
    name="anima",
    model_types=frozenset({"ANIMA"}),
    denoiser="transformer",
    text_encoders=(QWEN3,),
    native_map=native_map,
    native_roots=NATIVE_ROOTS,
    vocabulary=VOCABULARY,
    kohya_native_denoiser=True,
    has_legacy_lora=False,
    single_file=(
        SingleFileComponent("transformer", PREFIX, transformer_to_original),
        SingleFileComponent("text_conditioner", ADAPTER_PREFIX, conditioner_to_original),
    ),
)

KEYMAPS = (ANIMA,)
