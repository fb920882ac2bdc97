"""Flux.1 and Chroma adapter files as other programs read them.

KOHYA files name the native (Black Forest Labs) modules `lora_unet_<path with _>` with `lora_down` / `lora_up` /
`alpha` (kohya-ss sd-scripts, `networks/lora_flux.py`); COMFY files name them `diffusion_model.<path>` and CLIP
`text_encoders.clip_l.transformer.<path>`, which ComfyUI's key map (`comfy/lora.py`) reads in either the
`lora_A` / `lora_B` or the `lora_down` / `lora_up` spelling; ORIGINAL files carry the native path alone.

diffusers (`FluxLoraLoaderMixin.lora_state_dict`, which Chroma's pipeline shares) reads a Flux file as kohya or
ComfyUI only when a key ends in `.lora_down.weight`, so it reads ComfyUI files in that spelling only. Its
importer then assumes the full-size model in three places, which the checks below work around, each said where:
  * `single_blocks.{i}.linear1` is split at the hard-coded widths [3072, 3072, 3072, 12288] (an assertion fails
    on any other width): the tiny model's files leave that group to the independent reading, and a full-size
    file (tensors only, no model) is checked through diffusers' conversion;
  * the embedders (`img_in`, `txt_in`, `time_in`, `vector_in`, `guidance_in`) and `final_layer` are converted
    without the `transformer.` prefix, so `load_lora_weights` drops them;
  * `final_layer` adapters are copied without their alpha/rank scale.
Chroma's approximator (`distilled_guidance_layer`) has no place in that importer at all (it raises).

The independent reading maps every file key back onto the diffusers transformer by the published naming,
written here apart from the project's own key maps, and merges the deltas into the weights.
"""
from __future__ import annotations

import copy

import pytest
import torch

from engine.helpers import load_pipeline

FLUX, CHROMA = "FLUX_DEV_1", "CHROMA_1"
PIPELINES = {FLUX: "FluxPipeline", CHROMA: "ChromaPipeline"}
RANK, ALPHA = 4, 8.0  # alpha differs from the rank: a reader that drops the scale is caught
KOHYA, COMFY, ORIGINAL = "KOHYA_LORA", "COMFY_LORA", "ORIGINAL_LORA"


# ---------------------------------------------------------------- the published naming, diffusers -> native
_DOUBLE = {"norm1.linear": "img_mod.lin", "norm1_context.linear": "txt_mod.lin", "attn.to_out.0": "img_attn.proj",
           "attn.to_add_out": "txt_attn.proj", "ff.net.0.proj": "img_mlp.0", "ff.net.2": "img_mlp.2",
           "ff_context.net.0.proj": "txt_mlp.0", "ff_context.net.2": "txt_mlp.2"}
_SINGLE = {"proj_out": "linear2", "norm.linear": "modulation.lin"}
_OUTSIDE = {"x_embedder": "img_in", "context_embedder": "txt_in",
            "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
            "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
            "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
            "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
            "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
            "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
            "norm_out.linear": "final_layer.adaLN_modulation.1", "proj_out": "final_layer.linear"}
# the native final modulation stores (shift, scale), diffusers' `norm_out.linear` (scale, shift)
SWAPPED = "final_layer.adaLN_modulation.1"


def published_names(transformer) -> dict[str, tuple[str, ...]]:
    """native module -> the diffusers Linear modules it stands for (several, in row order, where it is fused)."""
    linears = {n for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    config = transformer.config
    names: dict[str, tuple[str, ...]] = {}
    for i in range(config.num_layers):
        d, n = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        names[f"{n}img_attn.qkv"] = tuple(f"{d}attn.to_{x}" for x in "qkv")
        names[f"{n}txt_attn.qkv"] = tuple(f"{d}attn.add_{x}_proj" for x in "qkv")
        names.update({n + native: (d + module,) for module, native in _DOUBLE.items()})
    for i in range(config.num_single_layers):
        s, n = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        names[f"{n}linear1"] = (*(f"{s}attn.to_{x}" for x in "qkv"), f"{s}proj_mlp")
        names.update({n + native: (s + module,) for module, native in _SINGLE.items()})
    names.update({native: (module,) for module, native in _OUTSIDE.items()})
    # Chroma's approximator keeps its names, its MLP layers named in/out_layer natively
    names.update({m.replace("linear_1", "in_layer").replace("linear_2", "out_layer"): (m,)
                  for m in linears if m.startswith("distilled_guidance_layer.")})
    present = {native: modules for native, modules in names.items() if all(m in linears for m in modules)}
    covered = {m for modules in present.values() for m in modules}
    assert covered == linears, sorted(linears - covered)
    return present


_FILE_NAMING = {  # format -> (native module -> file module, down suffix, up suffix)
    KOHYA: (lambda native: "lora_unet_" + native.replace(".", "_"), "lora_down.weight", "lora_up.weight"),
    COMFY: (lambda native: "diffusion_model." + native, "lora_A.weight", "lora_B.weight"),
    ORIGINAL: (lambda native: native, "lora_A.weight", "lora_B.weight"),
}


def merge_file_by_published_naming(transformer, tensors, fmt):
    """A copy of `transformer` with each file adapter's delta `up @ down · alpha / rank` added to the weights it
    names; a fused module's delta is cut into its modules' rows. Every file tensor must be used."""
    name_of, down_suffix, up_suffix = _FILE_NAMING[fmt]
    merged = copy.deepcopy(transformer)
    used = set()
    with torch.no_grad():
        for native, modules in published_names(transformer).items():
            name = name_of(native)
            keys = (f"{name}.{down_suffix}", f"{name}.{up_suffix}", f"{name}.alpha")
            if keys[0] not in tensors:
                continue
            down, up, alpha = (tensors[k].float() for k in keys)
            used.update(keys)
            delta = up @ down * (alpha.item() / down.shape[0])
            if native == SWAPPED:
                delta = torch.cat(delta.chunk(2)[::-1])
            rows = [merged.get_submodule(m).out_features for m in modules]
            for module, piece in zip(modules, delta.split(rows), strict=True):
                merged.get_submodule(module).weight += piece
    assert used == set(tensors), sorted(set(tensors) - used)
    return merged


# ---------------------------------------------------------------- adapters and the model they change
def random_adapters(module, names, generator, scale=0.1):
    """peft-named LoRA tensors for the Linear modules `names` of `module`."""
    out = {}
    for name in names:
        linear = module.get_submodule(name)
        out[f"{name}.lora_A.weight"] = torch.randn(RANK, linear.in_features, generator=generator) * scale
        out[f"{name}.lora_B.weight"] = torch.randn(linear.out_features, RANK, generator=generator) * scale
    return out


def merged_reference(module, adapters, alpha=ALPHA):
    """What the adapters do: a copy of `module` with `B @ A · alpha / rank` added to each adapted weight."""
    merged = copy.deepcopy(module)
    with torch.no_grad():
        for key, down in adapters.items():
            if key.endswith(".lora_A.weight"):
                name = key.removesuffix(".lora_A.weight")
                merged.get_submodule(name).weight += adapters[f"{name}.lora_B.weight"] @ down * (alpha / RANK)
    return merged


def linear_names(module, keep=lambda name: True):
    return sorted(n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear) and keep(n))


def transformer_inputs(transformer):
    from modules.families.parts.patches import image_ids

    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    inputs = {"hidden_states": torch.randn(1, 16, config.in_channels, generator=generator),
              "encoder_hidden_states": torch.randn(1, 8, config.joint_attention_dim, generator=generator),
              "timestep": torch.tensor([0.5]), "img_ids": image_ids(8, 8, "cpu", torch.float32),
              "txt_ids": torch.zeros(8, 3)}
    if "pooled_projection_dim" in config:  # Flux.1: pooled CLIP vector and guidance
        inputs["pooled_projections"] = torch.randn(1, config.pooled_projection_dim, generator=generator)
        inputs["guidance"] = torch.tensor([3.5])
    return inputs


def sample(transformer, inputs):
    with torch.no_grad():
        return transformer(**inputs).sample


def encode(adapters, model_type, fmt, config=None, alphas=ALPHA):
    from modules.families import family_for
    from modules.formats import encode_lora

    return encode_lora(adapters, alphas, family_for(model_type).keymap, fmt, denoiser_config=config)


def down_up_spelling(tensors):
    """The same ComfyUI file with `lora_down` / `lora_up` for `lora_A` / `lora_B` (ComfyUI reads both alike)."""
    return {k.replace(".lora_A.weight", ".lora_down.weight").replace(".lora_B.weight", ".lora_up.weight"): v
            for k, v in tensors.items()}


@pytest.fixture(scope="module")
def pipelines(tiny_model):
    built = {}

    def get(model_type):
        if model_type not in built:
            built[model_type] = load_pipeline(PIPELINES[model_type], tiny_model(model_type))
        return built[model_type]

    return get


def _diffusers_places(name: str) -> bool:
    """The tiny model's modules whose adapters diffusers' importer puts in place (see the module docstring)."""
    return name.startswith("transformer_blocks.") or name.endswith((".proj_out", ".norm.linear"))


# ---------------------------------------------------------------- diffusers' importer
@pytest.mark.parametrize("model_type", [FLUX, CHROMA])
@pytest.mark.parametrize("fmt", [KOHYA, COMFY])
def test_diffusers_load_lora_weights_reads_the_file_and_changes_the_output(pipelines, tmp_path, model_type, fmt):
    """Adapters on every module diffusers' importer can place (both streams of the double blocks with their
    modulations, the single blocks' output and modulation; Flux's CLIP too): with the file loaded, diffusers'
    transformer (and CLIP) compute what the adapters do; unloaded, the base output again."""
    from modules.formats.safetensors_io import write_safetensors

    pipe = pipelines(model_type)
    transformer = pipe.transformer
    generator = torch.Generator().manual_seed(1)
    adapters = {"transformer": random_adapters(transformer, linear_names(transformer, _diffusers_places), generator)}
    clip = pipe.text_encoder if model_type == FLUX else None
    if clip is not None:
        adapters["text_encoder"] = random_adapters(clip, linear_names(clip, lambda n: ".layers." in n), generator)
    tensors = encode(adapters, model_type, fmt, dict(transformer.config))
    if fmt == COMFY:
        assert "diffusion_model.double_blocks.1.txt_attn.qkv.lora_A.weight" in tensors
        tensors = down_up_spelling(tensors)
    path = tmp_path / f"{fmt}.safetensors"
    write_safetensors(path, tensors)

    inputs = transformer_inputs(transformer)
    base, want = sample(transformer, inputs), sample(merged_reference(transformer, adapters["transformer"]), inputs)
    assert (want - base).abs().max() > 1e-2
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    if clip is not None:
        with torch.no_grad():
            clip_want = merged_reference(clip, adapters["text_encoder"])(ids).last_hidden_state
    pipe.load_lora_weights(str(path))
    try:
        torch.testing.assert_close(sample(transformer, inputs), want, rtol=1e-4, atol=1e-5)
        if clip is not None:
            with torch.no_grad():
                torch.testing.assert_close(clip(ids).last_hidden_state, clip_want, rtol=1e-4, atol=1e-5)
    finally:
        pipe.unload_lora_weights()
    torch.testing.assert_close(sample(transformer, inputs), base)


def _full_size_flux():
    """diffusers' Flux.1-dev transformer on the meta device: the real module names and widths, no weights."""
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        return FluxTransformer2DModel(guidance_embeds=True)


def _meta_random_adapters(model, names, generator):
    out = {}
    for name in names:
        linear = model.get_submodule(name)
        out[f"{name}.lora_A.weight"] = torch.randn(RANK, linear.in_features, generator=generator)
        out[f"{name}.lora_B.weight"] = torch.randn(linear.out_features, RANK, generator=generator)
    return out


@pytest.mark.parametrize("fmt", [KOHYA, COMFY])
def test_diffusers_converts_a_full_size_file_into_the_same_deltas(tmp_path, fmt):
    """At Flux.1-dev's widths diffusers' importer splits `linear1` too: every module of the first and last
    double and single block, the embedders and the final layer come out of its conversion with the deltas the
    file was written from (compared on random probes; the full-size deltas are too big to build)."""
    from diffusers import FluxPipeline

    from modules.formats.safetensors_io import write_safetensors

    model = _full_size_flux()
    blocks = ("transformer_blocks.0.", "transformer_blocks.18.", "single_transformer_blocks.0.",
              "single_transformer_blocks.37.")
    names = linear_names(model, lambda n: n.startswith(blocks) or "blocks" not in n)
    adapters = _meta_random_adapters(model, names, torch.Generator().manual_seed(2))
    # diffusers copies final_layer adapters without their scale: alpha = rank there keeps that out of the check
    final = ("norm_out.linear", "proj_out")
    alphas = {f"transformer.{n}": (float(RANK) if n in final else ALPHA) for n in names}
    tensors = encode({"transformer": adapters}, FLUX, fmt, alphas=alphas)
    assert ("lora_unet_single_blocks_37_linear1.lora_down.weight" in tensors if fmt == KOHYA
            else "diffusion_model.single_blocks.37.linear1.lora_A.weight" in tensors)
    path = tmp_path / f"{fmt}.safetensors"
    write_safetensors(path, tensors if fmt == KOHYA else down_up_spelling(tensors))

    converted = {k.removeprefix("transformer."): v for k, v in FluxPipeline.lora_state_dict(str(path)).items()}
    assert {k.rsplit(".lora_", 1)[0] for k in converted} == set(names)
    probe = torch.Generator().manual_seed(3)
    for name in names:
        down, up = adapters[f"{name}.lora_A.weight"], adapters[f"{name}.lora_B.weight"]
        x = torch.randn(down.shape[1], 2, generator=probe)
        want = up @ (down @ x) * (alphas[f"transformer.{name}"] / RANK)
        got = converted[f"{name}.lora_B.weight"] @ (converted[f"{name}.lora_A.weight"] @ x)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4, msg=name)


# ---------------------------------------------------------------- the independent reading
@pytest.mark.parametrize("model_type", [FLUX, CHROMA])
@pytest.mark.parametrize("fmt", [KOHYA, COMFY, ORIGINAL])
def test_every_module_of_the_file_reads_back_by_the_published_naming(pipelines, model_type, fmt):
    """Adapters on every Linear of the tiny transformer (fused projections, modulations, embedders, the final
    layer, Chroma's approximator): the file merged by the published naming computes what the adapters do."""
    transformer = pipelines(model_type).transformer
    adapters = random_adapters(transformer, linear_names(transformer), torch.Generator().manual_seed(4))
    tensors = encode({"transformer": adapters}, model_type, fmt, dict(transformer.config))
    inputs = transformer_inputs(transformer)
    want = sample(merged_reference(transformer, adapters), inputs)
    assert (want - sample(transformer, inputs)).abs().max() > 1e-2
    got = sample(merge_file_by_published_naming(transformer, tensors, fmt), inputs)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- fused projections
def _fused_group_names(transformer):
    return linear_names(transformer, lambda n: n.endswith((".to_q", ".to_k", ".to_v", "_proj", ".proj_mlp"))
                        and "to_out" not in n)


@pytest.mark.parametrize("fmt", [KOHYA, COMFY, ORIGINAL])
def test_split_fused_split_gives_back_the_same_adapters(pipelines, fmt):
    """Writing fuses q/k/v (and the single blocks' MLP input) into one block-diagonal adapter; reading splits it
    back into exactly the tensors written, so the adapters' effect is unchanged. A group with an adapter on some
    of its projections only reads back as those projections."""
    from modules.families import family_for
    from modules.formats import decode_lora

    transformer = pipelines(FLUX).transformer
    names = [n for n in _fused_group_names(transformer) if not n.endswith("blocks.1.attn.to_k")]
    adapters = random_adapters(transformer, names, torch.Generator().manual_seed(5))
    config = dict(transformer.config)
    tensors = encode({"transformer": adapters}, FLUX, fmt, config)
    assert not any("to_q" in k or "proj_mlp" in k for k in tensors)
    read = decode_lora(tensors, family_for(FLUX).keymap, denoiser_config=config).parts["transformer"]
    assert read.keys() == adapters.keys() | {f"{n}.alpha" for n in names}
    for key, value in adapters.items():
        assert torch.equal(read[key], value), key
    assert all(read[f"{n}.alpha"].item() == ALPHA for n in names)


def test_a_dense_fused_adapter_splits_and_fuses_without_changing_its_effect(pipelines):
    """A LoRA trained on the fused `linear1` as one module (one down, one up over all of q, k, v and the MLP
    input, as kohya's scripts train it unless told to split) reads as four adapters sharing that down matrix;
    written again (fused block-diagonally) its delta is the same."""
    from modules.families import family_for
    from modules.formats import decode_lora

    transformer = pipelines(FLUX).transformer
    config = dict(transformer.config)
    keymap = family_for(FLUX).keymap
    inner = transformer.config.num_attention_heads * transformer.config.attention_head_dim
    generator = torch.Generator().manual_seed(6)
    down, up = torch.randn(RANK, inner, generator=generator), torch.randn(7 * inner, RANK, generator=generator)
    name = "lora_unet_single_blocks_1_linear1"
    dense = {f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up, f"{name}.alpha": torch.tensor(ALPHA)}

    read = decode_lora(dense, keymap, denoiser_config=config)
    single = "single_transformer_blocks.1."
    sources = [f"{single}attn.to_{x}" for x in "qkv"] + [f"{single}proj_mlp"]
    assert {k.rsplit(".lora_", 1)[0].removesuffix(".alpha") for k in read.parts["transformer"]} == set(sources)
    alphas = {f"transformer.{s}": read.parts["transformer"][f"{s}.alpha"].item() for s in sources}
    weights = {k: v for k, v in read.parts["transformer"].items() if not k.endswith(".alpha")}
    again = encode({"transformer": weights}, FLUX, KOHYA, config, alphas=alphas)
    fused_down, fused_up = again[f"{name}.lora_down.weight"], again[f"{name}.lora_up.weight"]
    delta = fused_up @ fused_down * (again[f"{name}.alpha"].item() / fused_down.shape[0])
    torch.testing.assert_close(delta, up @ down * (ALPHA / RANK))


# ---------------------------------------------------------------- text encoder prefixes
def test_kohya_scripts_t5_prefix_reads_as_the_t5_encoder(pipelines):
    """Flux's T5 is `lora_te2` in our kohya files (OneTrainer's name; ComfyUI maps it); kohya's sd-scripts writes
    `lora_te3` for it, which reads as the same encoder."""
    from modules.families import family_for
    from modules.formats import decode_lora

    t5 = pipelines(FLUX).text_encoder_2
    adapters = random_adapters(t5, linear_names(t5, lambda n: ".block.0." in n), torch.Generator().manual_seed(7))
    ours = encode({"text_encoder_2": adapters}, FLUX, KOHYA)
    assert ours and all(k.startswith("lora_te2_encoder_block_0_") for k in ours)
    theirs = {k.replace("lora_te2_", "lora_te3_", 1): v for k, v in ours.items()}
    read = decode_lora(theirs, family_for(FLUX).keymap).parts
    assert set(read) == {"text_encoder_2"}
    for key, value in adapters.items():
        assert torch.equal(read["text_encoder_2"][key], value), key


_T5_FILE_NAMES = {  # (model type, format) -> T5 module path -> file module, by ComfyUI's key map (`comfy/lora.py`)
    (FLUX, KOHYA): lambda path: "lora_te2_" + path.replace(".", "_"),
    (CHROMA, KOHYA): lambda path: "lora_te1_" + path.replace(".", "_"),
    (FLUX, COMFY): lambda path: "text_encoders.t5xxl.transformer." + path,
    (CHROMA, COMFY): lambda path: "text_encoders.t5xxl.transformer." + path,
}


@pytest.mark.parametrize("model_type", [FLUX, CHROMA])
@pytest.mark.parametrize("fmt", [KOHYA, COMFY])
def test_t5_adapters_read_back_by_the_published_naming(pipelines, model_type, fmt):
    """diffusers reads no T5 adapters from these conventions (its Flux importer drops ComfyUI's `t5xxl` keys and
    reads kohya text encoders as CLIP), so the T5 part is read by ComfyUI's naming: transformers' module paths
    below `text_encoders.t5xxl.transformer.`, or flattened below the encoder's kohya prefix."""
    pipe = pipelines(model_type)
    t5 = pipe.text_encoder_2 if model_type == FLUX else pipe.text_encoder
    part = "text_encoder_2" if model_type == FLUX else "text_encoder"
    names = linear_names(t5, lambda n: ".block." in n)
    adapters = random_adapters(t5, names, torch.Generator().manual_seed(8))
    tensors = encode({part: adapters}, model_type, fmt)
    _, down_suffix, up_suffix = _FILE_NAMING[fmt]
    name_of = _T5_FILE_NAMES[model_type, fmt]
    merged, used = copy.deepcopy(t5), set()
    with torch.no_grad():
        for path in names:
            keys = [f"{name_of(path)}.{suffix}" for suffix in (down_suffix, up_suffix, "alpha")]
            down, up, alpha = (tensors[k] for k in keys)
            used.update(keys)
            merged.get_submodule(path).weight += up @ down * (alpha.item() / down.shape[0])
    assert used == set(tensors)
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    with torch.no_grad():
        want = merged_reference(t5, adapters)(ids).last_hidden_state
        assert (want - t5(ids).last_hidden_state).abs().max() > 1e-3
        torch.testing.assert_close(merged(ids).last_hidden_state, want)
