"""Base weights from where users keep them: a torchao-quantized denoiser read layer by layer from its
file (the same weights as diffusers' own quantized loading), a real GGUF file and an original-layout
(ORIGINAL_TRANSFORMER) transformer file as the transformer's model name, each training a LoRA."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.helpers import deterministic_loss, train_measured

pytest.importorskip("torchao")
gguf = pytest.importorskip("gguf")

FLUX, CHROMA = "FLUX_DEV_1", "CHROMA_1"
SHORT_T5 = 16  # T5 tokens: the tiny captions are short


def _errors(cfg) -> dict[str, str]:
    from modules.engine import check

    return {p.path: p.message for p in check(cfg) if p.severity == "error"}


def _dequantized(tensor: torch.Tensor) -> torch.Tensor:
    """A weight as plain floats, whichever back-end holds it."""
    if hasattr(tensor, "quant_type"):  # GGUF
        from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

        return dequantize_gguf_tensor(tensor).float()
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter):  # torchao
        return tensor.dequantize().float()
    return tensor.detach().float()


def _transformer(tiny_model, model_type):
    import diffusers

    path = tiny_model(model_type)
    spec = json.loads((Path(path) / "model_index.json").read_text())["transformer"]
    cls = getattr(diffusers, spec[1])
    return cls, path, cls.from_pretrained(path, subfolder="transformer")


def _base_linears(module) -> list[str]:
    return [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear) and n and ".lora_" not in n
            and not n.endswith(".base_layer")] + [n[: -len(".base_layer")] for n, _ in module.named_modules()
                                                  if n.endswith(".base_layer")]


# ---------------------------------------------------------------- torchao, layer by layer
@pytest.mark.parametrize(("model_type", "dtype", "layer_filter"), [
    (FLUX, "INT_8", "attn"), (FLUX, "FLOAT_8", "attn"),
    ("KREA_2", "INT_8", ""),  # its norms stay in float32 (`_keep_in_fp32_modules`)
])
def test_quantized_loading_reads_layer_by_layer_the_weights_diffusers_would_load(make_config, tiny_model,
                                                                                tmp_path, model_type, dtype,
                                                                                layer_filter):
    from modules.config.enums import DataType
    from modules.families.parts import diffusers_io, quantization
    from modules.families.parts.streamed_load import INDEX_NAME

    cls, path, source = _transformer(tiny_model, model_type)
    cfg = make_config(model_type, train_dtype=DataType.BFLOAT_16, transformer__weight_dtype=DataType(dtype),
                      quantization__layer_filter=layer_filter)
    streamed = diffusers_io.load_component(cls, path, "transformer", cfg)
    reference = cls.from_pretrained(path, subfolder="transformer",
                                    **quantization.loading_kwargs(cls, path, "transformer", cfg, "transformer"))
    quantization.complete(reference, cfg, "transformer")

    names = quantization.quantized_linear_names(streamed)
    assert names and names == quantization.quantized_linear_names(reference)
    if layer_filter:
        assert all(f".{layer_filter}." in n for n in names)
        assert len(names) < len(_base_linears(streamed))  # the layer filter left the rest unquantized
    expected = reference.state_dict()
    for key, value in streamed.state_dict().items():
        assert type(value) is type(expected[key]) and value.dtype == expected[key].dtype, key
        assert torch.equal(_dequantized(value), _dequantized(expected[key])), key
    plain = {v.dtype for v in streamed.state_dict().values() if type(v) is torch.Tensor}
    assert plain == ({torch.bfloat16, torch.float32} if cls._keep_in_fp32_modules else {torch.bfloat16})
    assert streamed.hf_quantizer.quantization_config.quant_method == reference.hf_quantizer.quantization_config.quant_method

    # a sharded component folder reads shard by shard to the same weights
    sharded = tmp_path / "sharded"
    source.save_pretrained(sharded / "transformer", max_shard_size="20KB")
    assert (sharded / "transformer" / INDEX_NAME).is_file()
    from_shards = diffusers_io.load_component(cls, str(sharded), "transformer", cfg)
    for key, value in from_shards.state_dict().items():
        assert torch.equal(_dequantized(value), _dequantized(expected[key])), key


def test_a_weights_file_that_does_not_fit_the_config_is_refused_by_name(make_config, tiny_model, tmp_path):
    from safetensors.torch import load_file, save_file

    from modules.config.enums import DataType
    from modules.families.parts import diffusers_io

    cls, path, _ = _transformer(tiny_model, FLUX)
    broken = tmp_path / "broken" / "transformer"
    shutil.copytree(f"{path}/transformer", broken)
    weights = load_file(broken / "diffusion_pytorch_model.safetensors")
    weights.pop("proj_out.weight")
    save_file(weights, broken / "diffusion_pytorch_model.safetensors")
    cfg = make_config(FLUX, transformer__weight_dtype=DataType.INT_8)
    with pytest.raises(ValueError, match=r"does not match FluxTransformer2DModel's config: missing \['proj_out.weight'\]"):
        diffusers_io.load_component(cls, str(broken.parent), "transformer", cfg)


# ---------------------------------------------------------------- GGUF files
def write_gguf(path, tensors: dict[str, torch.Tensor]):
    """A GGUF file as the quantizing tools write them: Q8_0 where a row splits into 32-value blocks,
    BF16 for the other matrices, F32 for vectors."""
    Q8, BF16 = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.BF16
    writer = gguf.GGUFWriter(str(path), arch="flux")
    for name, tensor in tensors.items():
        values = tensor.detach().float().numpy()
        if values.ndim == 2:
            kind = Q8 if values.shape[1] % 32 == 0 else BF16
            writer.add_tensor(name, gguf.quants.quantize(values, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, values.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_lora_trains_on_a_gguf_flux_transformer_in_the_original_layout(make_config, tiny_model, tmp_path):
    from diffusers.quantizers.gguf.utils import GGUFParameter

    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts.flux_layout import FluxLayout, to_original

    _, _, source = _transformer(tiny_model, FLUX)
    original = to_original(source.state_dict(), FluxLayout.from_config(source.config))
    assert "double_blocks.0.img_attn.qkv.weight" in original
    gguf_file = write_gguf(tmp_path / "flux1-dev-Q8_0.gguf", original)
    kinds = {t.tensor_type.name for t in gguf.GGUFReader(str(gguf_file)).tensors}
    assert {"Q8_0", "BF16", "F32"} <= kinds

    cfg = make_config(FLUX, epochs=4, learning_rate=3e-3, text_encoder__train=False, text_encoder_2__train=False,
                      text_encoder_2_sequence_length=SHORT_T5, transformer__weight_dtype=DataType.GGUF,
                      transformer__model_name=str(gguf_file))
    assert _errors(cfg) == {}
    trainer = create_trainer(cfg)
    trainer.start()
    transformer = trainer.model["transformer"]
    linears = _base_linears(transformer)
    layers = dict(transformer.named_modules())
    base = {n: layers.get(f"{n}.base_layer", layers[n]) for n in linears}
    assert linears and all(type(m).__name__ == "GGUFLinear" and isinstance(m.weight, GGUFParameter)
                           for m in base.values())
    q8 = [n for n, m in base.items() if m.weight.quant_type == gguf.GGMLQuantizationType.Q8_0]
    assert q8 and len(q8) < len(linears)  # Q8_0 and BF16 layers both load
    loaded = {k: v for k, v in transformer.state_dict().items() if "lora_" not in k}
    loaded = {k.replace(".base_layer", ""): v for k, v in loaded.items()}
    reference = source.state_dict()
    assert set(loaded) == set(reference)
    for key, value in loaded.items():
        expected = reference[key].float()
        error = (_dequantized(value) - expected).abs().max()
        assert error <= expected.abs().max() / 100 + 1e-6, key  # Q8_0: within 1/127 of the row's largest

    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    losses = [v for _, v in trainer.loss_history]
    assert len(losses) == 8 and all(np.isfinite(losses))
    assert after < before


@pytest.mark.parametrize("model_type", [CHROMA, "STABLE_DIFFUSION_3", "QWEN"])
def test_a_gguf_transformer_loads_in_the_original_layout_or_in_diffusers_names(make_config, tiny_model, tmp_path,
                                                                               model_type):
    """Chroma's file is in its original layout (the keymap converts it); SD 3's and Qwen-Image's files
    keep diffusers' names, which load as they are."""
    from modules.config.enums import DataType
    from modules.families import family_for

    family = family_for(model_type)
    _, _, source = _transformer(tiny_model, model_type)
    converter = next((c for c in family.keymap.single_file if c.part == "transformer" and c.from_original), None)
    state = source.state_dict()
    written = converter.convert(state, source.config) if converter else state
    assert (set(written) != set(state)) == (model_type == CHROMA)
    gguf_file = write_gguf(tmp_path / "transformer-Q8_0.gguf", written)
    cfg = make_config(model_type, transformer__weight_dtype=DataType.GGUF, transformer__model_name=str(gguf_file))
    assert _errors(cfg) == {}
    transformer = family.load(cfg.base_model_name, cfg)["transformer"]
    linears = [m for m in transformer.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m).__name__ == "GGUFLinear" for m in linears)
    loaded = transformer.state_dict()
    assert set(loaded) == set(state)
    for key, value in loaded.items():
        expected = state[key].float()
        assert (_dequantized(value) - expected).abs().max() <= expected.abs().max() / 100 + 1e-6, key


def test_gguf_is_refused_where_the_transformer_has_no_single_file_loader(make_config, tmp_path):
    from modules.config.enums import DataType, ModelType, TrainingMethod
    from modules.config.train_config import TrainConfig

    cfg = TrainConfig.default_values()  # the check reads no model files
    cfg.model_type, cfg.training_method, cfg.train_device = ModelType.PIXART_SIGMA, TrainingMethod.LORA, "cpu"
    cfg.transformer.weight_dtype, cfg.transformer.model_name = DataType.GGUF, "pixart-Q8_0.gguf"
    message = _errors(cfg)["transformer.weight_dtype"]
    assert "PixArt" in message and "no single-file loader" in message and "Flux.1" in message
    assert "INT_8" in message
    message = _errors(make_config(FLUX, transformer__weight_dtype=DataType.GGUF))["transformer.weight_dtype"]
    assert "transformer.model_name" in message and ".gguf" in message
    message = _errors(make_config(FLUX, transformer__model_name="flux-Q8_0.gguf"))["transformer.weight_dtype"]
    assert "set transformer.weight_dtype to GGUF" in message
    as_base = tmp_path / "flux1-dev-Q8_0.gguf"
    as_base.write_bytes(b"GGUF")
    message = _errors(make_config(FLUX, base_model_name=str(as_base)))["base_model_name"]
    assert "transformer.model_name" in message and "diffusers folder" in message


def test_the_gguf_families_are_those_whose_transformer_diffusers_loads_from_one_file():
    import inspect

    import diffusers
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES

    from modules.families.parts.quantization import GGUF_DENOISERS
    from modules.families.registry import all_facts

    for facts in all_facts():
        for pipeline in facts.pipelines.values():
            init = getattr(getattr(diffusers, pipeline, None), "__init__", None)
            annotation = inspect.signature(init).parameters.get(facts.denoiser) if init else None
            if annotation is None:
                continue
            cls_name = getattr(annotation.annotation, "__name__", "")
            if facts.package in GGUF_DENOISERS:
                assert GGUF_DENOISERS[facts.package] == cls_name and facts.denoiser == "transformer"
            elif facts.package in ("sd", "sdxl", "pixart", "ideogram4"):  # refused: no loader (or a UNet)
                assert cls_name not in SINGLE_FILE_LOADABLE_CLASSES or facts.denoiser != "transformer"
    assert all(name in SINGLE_FILE_LOADABLE_CLASSES for name in GGUF_DENOISERS.values())


# ---------------------------------------------------------------- ORIGINAL_TRANSFORMER files
@pytest.mark.parametrize("model_type", [FLUX, CHROMA])
def test_an_original_transformer_file_is_the_base_transformer(make_config, tiny_model, tmp_path, model_type):
    from safetensors.torch import load_file

    from modules.config.enums import ModelFormat
    from modules.families import family_for
    from modules.formats import save_original_single_file

    family = family_for(model_type)
    model = family.load(tiny_model(model_type), make_config(model_type))
    transformer = model["transformer"]
    with torch.no_grad():  # a weight the folder does not have: the loaded one shows which was read
        transformer.proj_out.weight.add_(0.5)
    reference = {k: v.clone() for k, v in transformer.state_dict().items()}
    original_file = tmp_path / "transformer.safetensors"
    save_original_single_file(original_file, {"transformer": transformer}, family.keymap, torch.float32,
                              fmt=ModelFormat.ORIGINAL_TRANSFORMER)
    assert "double_blocks.0.img_attn.qkv.weight" in load_file(original_file)

    fields = {"text_encoder__train": False, "epochs": 4, "learning_rate": 3e-3,
              "transformer__model_name": str(original_file)}
    if model_type == FLUX:
        fields.update(text_encoder_2__train=False, text_encoder_2_sequence_length=SHORT_T5)
    else:
        fields.update(text_encoder_sequence_length=SHORT_T5)
    cfg = make_config(model_type, **fields)
    assert _errors(cfg) == {}
    loaded = family.load(cfg.base_model_name, cfg)["transformer"].state_dict()
    assert set(loaded) == set(reference)
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)

    trainer, before, after = train_measured(cfg)
    assert all(np.isfinite([v for _, v in trainer.loss_history]))
    assert after < before
