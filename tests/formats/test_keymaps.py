"""Family key maps: original UNet layout facts, two-way path maps, kohya name flattening."""
from __future__ import annotations

import pytest
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from modules.config.enums import ModelType
from modules.families.parts.ldm_layout import UNetLayout, unet_map, vae_map
from modules.families.sd.keymap import SD_UNET_LAYOUT
from modules.families.sdxl.keymap import SDXL_UNET_LAYOUT
from modules.formats.lora_codecs import unflatten
from tests.formats.conftest import build_sdxl, family_keymaps, keymap_for, sd_unet, tiny_vae

# well-known module positions of the real SD 1.5 / SDXL UNets
SD_FACTS = {
    "conv_in": "input_blocks.0.0",
    "down_blocks.0.attentions.1.proj_in": "input_blocks.2.1.proj_in",
    "down_blocks.0.downsamplers.0.conv": "input_blocks.3.0.op",
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q": "input_blocks.4.1.transformer_blocks.0.attn1.to_q",
    "down_blocks.1.resnets.0.conv_shortcut": "input_blocks.4.0.skip_connection",
    "down_blocks.3.resnets.1.time_emb_proj": "input_blocks.11.0.emb_layers.1",
    "mid_block.attentions.0.proj_out": "middle_block.1.proj_out",
    "mid_block.resnets.1.norm2": "middle_block.2.out_layers.0",
    "up_blocks.0.resnets.2.conv1": "output_blocks.2.0.in_layers.2",
    "up_blocks.0.upsamplers.0.conv": "output_blocks.2.1.conv",
    "up_blocks.1.upsamplers.0.conv": "output_blocks.5.2.conv",
    "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2": "output_blocks.11.1.transformer_blocks.0.ff.net.2",
    "time_embedding.linear_2": "time_embed.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
SDXL_FACTS = {
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q": "input_blocks.4.1.transformer_blocks.0.attn1.to_q",
    "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k": "input_blocks.8.1.transformer_blocks.9.attn2.to_k",
    "down_blocks.1.downsamplers.0.conv": "input_blocks.6.0.op",
    "up_blocks.0.attentions.2.proj_out": "output_blocks.2.1.proj_out",
    "up_blocks.0.upsamplers.0.conv": "output_blocks.2.2.conv",
    "up_blocks.1.upsamplers.0.conv": "output_blocks.5.2.conv",
    "up_blocks.2.resnets.2.conv2": "output_blocks.8.0.out_layers.3",
    "add_embedding.linear_1": "label_emb.0.0",
}


@pytest.mark.parametrize(("layout", "facts"), [(SD_UNET_LAYOUT, SD_FACTS), (SDXL_UNET_LAYOUT, SDXL_FACTS)])
def test_real_unet_layout_facts(layout, facts):
    paths = unet_map(layout)
    for diffusers_path, native_path in facts.items():
        assert paths.forward(diffusers_path) == native_path
        assert paths.backward(native_path) == diffusers_path


def _module_paths(module):
    return [name for name, m in module.named_modules() if name and list(m.parameters(recurse=False))]


@pytest.mark.parametrize("model", ["sd", "sdxl"])
def test_every_unet_module_maps_both_ways_and_uniquely(model):
    unet = sd_unet() if model == "sd" else build_sdxl().unet
    paths = unet_map(UNetLayout.from_config(unet.config))
    names = _module_paths(unet)
    native = [paths.forward(n) for n in names]
    assert len(set(native)) == len(names)
    assert [paths.backward(n) for n in native] == names
    assert UNetLayout.from_config(unet.config) == (SD_UNET_LAYOUT if model == "sd" else SDXL_UNET_LAYOUT)


def test_vae_map_is_a_bijection():
    vae = tiny_vae(0.18215)
    paths = vae_map(len(vae.config.down_block_types), vae.config.layers_per_block)
    names = _module_paths(vae)
    native = [paths.forward(n) for n in names]
    assert len(set(native)) == len(names)
    assert "decoder.up.1.block.0.nin_shortcut" not in native and "encoder.down.1.block.0.nin_shortcut" in native
    assert "decoder.mid.attn_1.proj_out" in native


def test_kohya_flattening_is_reversible_for_every_module_name():
    keymap = keymap_for(ModelType.STABLE_DIFFUSION_XL_10_BASE)
    unet = build_sdxl().unet
    paths = unet_map(UNetLayout.from_config(unet.config))
    clip = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                      num_attention_heads=2, vocab_size=50))
    names = _module_paths(unet) + [paths.forward(n) for n in _module_paths(unet)] + _module_paths(clip)
    for name in names:
        assert unflatten(name.replace(".", "_"), keymap.vocabulary) == name


def test_family_keymaps_cover_sd_and_sdxl_model_types_once():
    covered = [t for keymap in family_keymaps() for t in keymap.model_types]
    assert len(covered) == len(set(covered))
    expected = [t for t in ModelType if t.is_stable_diffusion() or t.is_stable_diffusion_xl()]
    assert sorted(covered) == sorted(str(t) for t in expected)
    assert keymap_for(ModelType.STABLE_DIFFUSION_21).text_encoders[0].comfy_name == "clip_h"
    with pytest.raises(KeyError):
        keymap_for(ModelType.FLUX_DEV_1)
    for keymap in family_keymaps():
        assert set(keymap.pipelines) == set(keymap.model_types)
        assert keymap.fusions == ()  # the UNet families store every projection split
