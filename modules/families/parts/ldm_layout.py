"""Original (LDM / SGM) layouts of the Stable Diffusion UNet, VAE and CLIP text encoders.

SD 1.x/2.x (CompVis LDM) and SDXL (Stability SGM) share the UNet naming scheme: `input_blocks`,
`middle_block`, `output_blocks` numbered by position. Which diffusers block a position holds follows
from the UNet config (blocks, layers per block, which blocks carry attention), so the maps are built
from a `UNetLayout` rather than hard-coded for one model size.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch

from modules.formats.prefix_map import PrefixMap, Rule

_UNET_RESNET_LEAVES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET_LEAVES = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION_LEAVES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}

# first path segments that only occur in the native UNet naming
NATIVE_UNET_ROOTS = frozenset({"input_blocks", "middle_block", "output_blocks", "time_embed", "label_emb", "out"})


@dataclass(frozen=True)
class UNetLayout:
    layers_per_block: int
    down_attention: tuple[bool, ...]
    up_attention: tuple[bool, ...]

    @classmethod
    def from_config(cls, config: Mapping) -> UNetLayout:
        layers = config["layers_per_block"]
        if not isinstance(layers, int):
            if len(set(layers)) != 1:
                raise ValueError("the original UNet layout needs the same layers_per_block in every block")
            layers = layers[0]
        return cls(
            layers_per_block=layers,
            down_attention=tuple("CrossAttn" in t for t in config["down_block_types"]),
            up_attention=tuple("CrossAttn" in t for t in config["up_block_types"]),
        )


@lru_cache(maxsize=32)
def unet_map(layout: UNetLayout) -> PrefixMap:
    per_block = layout.layers_per_block + 1  # resnets + the down/up sampler slot
    rules = [
        Rule("conv_in", "input_blocks.0.0"),
        Rule("time_embedding.linear_1", "time_embed.0"),
        Rule("time_embedding.linear_2", "time_embed.2"),
        Rule("add_embedding.linear_1", "label_emb.0.0"),
        Rule("add_embedding.linear_2", "label_emb.0.2"),
        Rule("conv_norm_out", "out.0"),
        Rule("conv_out", "out.2"),
        Rule("mid_block.resnets.0", "middle_block.0", _UNET_RESNET_LEAVES),
        Rule("mid_block.attentions.0", "middle_block.1"),
        Rule("mid_block.resnets.1", "middle_block.2", _UNET_RESNET_LEAVES),
    ]
    blocks = len(layout.down_attention)
    for i in range(blocks):
        for j in range(layout.layers_per_block):
            n = 1 + i * per_block + j
            rules.append(Rule(f"down_blocks.{i}.resnets.{j}", f"input_blocks.{n}.0", _UNET_RESNET_LEAVES))
            rules.append(Rule(f"down_blocks.{i}.attentions.{j}", f"input_blocks.{n}.1"))
        if i < blocks - 1:
            rules.append(Rule(f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{(i + 1) * per_block}.0.op"))
    for i, has_attention in enumerate(layout.up_attention):
        for j in range(per_block):
            n = i * per_block + j
            rules.append(Rule(f"up_blocks.{i}.resnets.{j}", f"output_blocks.{n}.0", _UNET_RESNET_LEAVES))
            rules.append(Rule(f"up_blocks.{i}.attentions.{j}", f"output_blocks.{n}.1"))
        if i < len(layout.up_attention) - 1:
            slot = 2 if has_attention else 1
            rules.append(Rule(f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{i * per_block + layout.layers_per_block}.{slot}.conv"))
    return PrefixMap(rules)


@lru_cache(maxsize=8)
def vae_map(blocks: int, layers_per_block: int) -> PrefixMap:
    rules = [Rule(name, name) for name in ("quant_conv", "post_quant_conv")]
    for side in ("encoder", "decoder"):
        rules += [
            Rule(f"{side}.conv_in", f"{side}.conv_in"),
            Rule(f"{side}.conv_out", f"{side}.conv_out"),
            Rule(f"{side}.conv_norm_out", f"{side}.norm_out"),
            Rule(f"{side}.mid_block.resnets.0", f"{side}.mid.block_1", _VAE_RESNET_LEAVES),
            Rule(f"{side}.mid_block.resnets.1", f"{side}.mid.block_2", _VAE_RESNET_LEAVES),
            Rule(f"{side}.mid_block.attentions.0", f"{side}.mid.attn_1", _VAE_ATTENTION_LEAVES),
        ]
    for i in range(blocks):
        for j in range(layers_per_block):
            rules.append(Rule(f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", _VAE_RESNET_LEAVES))
        # the decoder counts its blocks from the lowest resolution up, LDM from the highest
        for j in range(layers_per_block + 1):
            rules.append(Rule(f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{blocks - 1 - i}.block.{j}", _VAE_RESNET_LEAVES))
        if i < blocks - 1:
            rules.append(Rule(f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv"))
            rules.append(Rule(f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{blocks - 1 - i}.upsample.conv"))
    return PrefixMap(rules)


def unet_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    return unet_map(UNetLayout.from_config(config)).convert_state_dict(state_dict)


def vae_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    layers = config.get("layers_per_block", 1)
    converted = vae_map(len(config["down_block_types"]), layers).convert_state_dict(state_dict)
    # the original mid-block attention uses 1x1 convolutions where diffusers uses linear layers
    for key, value in converted.items():
        if ".mid.attn_1." in key and key.endswith(".weight") and value.ndim == 2:
            converted[key] = value[:, :, None, None]
    return converted


def with_text_model_root(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers >= 5.6 flattens CLIPTextModel; original files keep the `text_model.` level."""
    return {k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}": v for k, v in state_dict.items()}


def clip_to_original(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """OpenAI CLIP as stored in SD 1.x / SDXL files: the Hugging Face layout under `text_model.`."""
    return with_text_model_root(state_dict)


_OPEN_CLIP_LAYER_LEAVES = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}
_OPEN_CLIP_FIXED = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}


def clip_to_open_clip(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    """OpenCLIP layout (SD 2.x text encoder, SDXL's second one): fused attention input projection,
    `resblocks`, and the projection stored transposed."""
    source = with_text_model_root(state_dict)
    out: dict[str, torch.Tensor] = {}
    for diffusers_key, original_key in _OPEN_CLIP_FIXED.items():
        out[original_key] = source[diffusers_key]
    if "text_projection.weight" in source:
        out["text_projection"] = source["text_projection.weight"].T.contiguous()
    for layer in range(config["num_hidden_layers"]):
        src = f"text_model.encoder.layers.{layer}."
        dst = f"transformer.resblocks.{layer}."
        for param in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{param}"] = torch.cat(
                [source[f"{src}self_attn.{p}_proj.{param}"] for p in ("q", "k", "v")]
            )
            for hf_name, clip_name in _OPEN_CLIP_LAYER_LEAVES.items():
                out[f"{dst}{clip_name}.{param}"] = source[f"{src}{hf_name}.{param}"]
    return out


# compound segment names of the diffusers and the native UNet naming
UNET_VOCABULARY = frozenset({
    "down_blocks", "up_blocks", "mid_block", "transformer_blocks", "proj_in", "proj_out", "to_q", "to_k", "to_v",
    "to_out", "conv_in", "conv_out", "conv_norm_out", "conv_shortcut", "time_emb_proj", "time_embedding",
    "linear_1", "linear_2", "add_embedding", "class_embedding", "add_k_proj", "add_v_proj",
    "input_blocks", "middle_block", "output_blocks", "in_layers", "out_layers", "emb_layers", "skip_connection",
    "time_embed", "label_emb",
})


def unet_native_map(default: UNetLayout):
    """Native-map factory for a family whose real model has the `default` layout."""
    def build(config: Mapping | None) -> PrefixMap:
        return unet_map(default if config is None else UNetLayout.from_config(config))
    return build
