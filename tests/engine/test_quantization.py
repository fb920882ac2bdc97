"""Quantized base weights: a LoRA trains on a quantized denoiser where the back-end runs, and a
quantized dtype that cannot run here (or a quantized part to fine-tune) is refused before loading."""
from __future__ import annotations

import pytest
import torch

from engine.helpers import deterministic_loss

pytest.importorskip("torchao")

CPU_DTYPES = ("INT_8", "INT_W8A8", "FLOAT_8")


def _errors(cfg) -> dict[str, str]:
    from modules.engine import check

    return {p.path: p.message for p in check(cfg) if p.severity == "error"}


def _unet_linears(unet) -> list[str]:
    """The UNet's own Linear layers (adapter layers left out)."""
    return [n for n, m in unet.named_modules() if isinstance(m, torch.nn.Linear) and n and ".lora_" not in n]


def test_lora_trains_on_an_int8_unet(make_config):
    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts.quantization import quantized_linear_names
    from modules.formats.safetensors_io import read_safetensors

    cfg = make_config(epochs=4, learning_rate=3e-3, text_encoder__train=False, unet__weight_dtype=DataType.INT_8)
    assert _errors(cfg) == {}
    trainer = create_trainer(cfg)
    trainer.start()
    unet = trainer.model["unet"]
    int8 = {n for n, m in unet.named_modules()
            if isinstance(m, torch.nn.Linear) and type(m.weight).__name__ == "Int8Tensor"}
    assert int8 == set(_unet_linears(unet)) == set(quantized_linear_names(unet))
    assert any(n.endswith("attn1.to_q.base_layer") for n in int8)  # the adapted layers wrap int8 layers
    adapter = {n: p.detach().clone() for n, p in unet.named_parameters() if "lora_B" in n}
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()

    losses = [v for _, v in trainer.loss_history]
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert after < before
    changed = [n for n, p in unet.named_parameters() if n in adapter and not torch.equal(p, adapter[n])]
    assert len(changed) == len(adapter) > 0
    # the quantized weights themselves are frozen, the rest of the UNet runs in the train dtype
    assert not any(p.requires_grad for n, p in unet.named_parameters() if "lora_" not in n)
    assert {p.dtype for n, p in unet.named_parameters() if "lora_" not in n} == {torch.float32}

    tensors, _ = read_safetensors(cfg.output_model_destination)
    downs = {k[: -len(".lora_down.weight")] for k in tensors if k.endswith(".lora_down.weight")}
    assert downs and all(k.startswith("lora_unet_") for k in downs)
    assert {k + suffix for k in downs for suffix in (".lora_down.weight", ".lora_up.weight", ".alpha")} == set(tensors)
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q" in downs


@pytest.mark.parametrize("dtype", ["INT_W8A8", "FLOAT_8"])
def test_other_cpu_dtypes_load_quantized_and_train(make_config, dtype):
    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts.quantization import quantized_linear_names

    cfg = make_config(epochs=1, text_encoder__train=False, unet__weight_dtype=DataType(dtype))
    assert _errors(cfg) == {}
    trainer = create_trainer(cfg)
    trainer.start()
    unet = trainer.model["unet"]
    assert set(quantized_linear_names(unet)) == set(_unet_linears(unet))
    adapter = {n: p.detach().clone() for n, p in unet.named_parameters() if "lora_B" in n}
    trainer.train()
    trainer.end()
    assert all(torch.isfinite(torch.tensor([v for _, v in trainer.loss_history])))
    assert any(not torch.equal(p, adapter[n]) for n, p in unet.named_parameters() if n in adapter)


def test_the_quantization_layer_filter_picks_the_quantized_layers(make_config):
    from modules.config.enums import DataType
    from modules.families import family_for
    from modules.families.parts.quantization import quantized_linear_names

    cfg = make_config(unet__weight_dtype=DataType.INT_8, quantization__layer_filter="attn1, attn2")
    model = family_for(cfg.model_type).load(cfg.base_model_name, cfg)
    unet = model["unet"]
    expected = {n for n in _unet_linears(unet) if "attn1" in n or "attn2" in n}
    assert expected and set(quantized_linear_names(unet)) == expected
    assert set(_unet_linears(unet)) - expected  # proj_in, ff, time embedding stay unquantized
    # a name whose ending is another skipped name's ending is no problem: regex picks exactly one block
    cfg = make_config(unet__weight_dtype=DataType.INT_8, quantization__layer_filter=r"^up_blocks\.0\.attentions\.0\.",
                      quantization__layer_filter_regex=True)
    unet = family_for(cfg.model_type).load(cfg.base_model_name, cfg)["unet"]
    expected = {n for n in _unet_linears(unet) if n.startswith("up_blocks.0.attentions.0.")}
    assert expected and set(quantized_linear_names(unet)) == expected


def test_a_float_weight_dtype_loads_unquantized(make_config):
    from modules.config.enums import DataType
    from modules.families import family_for
    from modules.families.parts.quantization import quantized_linear_names

    cfg = make_config(unet__weight_dtype=DataType.BFLOAT_16)
    unet = family_for(cfg.model_type).load(cfg.base_model_name, cfg)["unet"]
    assert quantized_linear_names(unet) == []
    assert {p.dtype for p in unet.parameters()} == {torch.bfloat16}


def test_nf4_on_cpu_is_refused_by_check_and_by_the_trainer_before_loading(make_config, monkeypatch):
    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts import diffusers_io
    from modules.families.parts.quantization import QuantizationUnavailable

    cfg = make_config(unet__weight_dtype=DataType.NFLOAT_4)
    message = _errors(cfg)["unet.weight_dtype"]
    assert "NFLOAT_4" in message and "bitsandbytes' CUDA kernels" in message and "INT_8" in message
    loaded = []
    monkeypatch.setattr(diffusers_io, "load_folder", lambda *a, **k: loaded.append(a) or {})
    trainer = create_trainer(cfg)
    with pytest.raises(QuantizationUnavailable, match="unet.weight_dtype: NFLOAT_4 needs bitsandbytes"):
        trainer.start()
    assert loaded == []


@pytest.mark.parametrize(("dtype", "words"), [
    ("FLOAT_W8A8", "compute capability 8.9"),
    ("FLOAT_W8A8_COMPRESSED", "compute capability 8.9"),
    ("GGUF_A8_FLOAT", "no integrated back-end"),
    ("GGUF_A8_INT", "no integrated back-end"),
    ("GGUF", ".gguf file"),
])
def test_dtypes_that_cannot_run_here_are_refused_with_what_would(make_config, dtype, words):
    from modules.config.enums import DataType

    message = _errors(make_config(unet__weight_dtype=DataType(dtype)))["unet.weight_dtype"]
    assert dtype in message and words in message
    assert "INT_8" in message or dtype == "GGUF_A8_INT" and "GGUF" in message


def test_fine_tuning_a_quantized_part_is_refused_but_a_frozen_one_is_not(make_config):
    from modules.config.enums import DataType

    cfg = make_config(method="FINE_TUNE", unet__weight_dtype=DataType.INT_8)
    message = _errors(cfg)["unet.weight_dtype"]
    assert "cannot be fine-tuned" in message and "LoRA" in message
    cfg = make_config(method="FINE_TUNE", text_encoder__weight_dtype=DataType.INT_8)
    assert "cannot be fine-tuned" in _errors(cfg)["text_encoder.weight_dtype"]
    cfg = make_config(method="FINE_TUNE", text_encoder__weight_dtype=DataType.INT_8, text_encoder__train=False)
    assert "text_encoder.weight_dtype" not in _errors(cfg)


def test_device_rules_for_a_cuda_device():
    from modules.config.enums import DataType
    from modules.families.parts.quantization import DeviceInfo, unavailable_reason

    packages = frozenset({"torchao", "bitsandbytes", "gguf"})
    ada = DeviceInfo("cuda", (8, 9), packages)
    ampere = DeviceInfo("cuda", (8, 0), packages)
    assert unavailable_reason(DataType.NFLOAT_4, ampere) is None
    assert unavailable_reason(DataType.FLOAT_W8A8, ada) is None
    assert "8.9" in unavailable_reason(DataType.FLOAT_W8A8, ampere)
    assert unavailable_reason(DataType.INT_8, DeviceInfo("cuda", (7, 5), packages)) is None
    assert "torchao" in unavailable_reason(DataType.INT_8, DeviceInfo("cpu", None, frozenset()))
    assert "mps" in unavailable_reason(DataType.INT_8, DeviceInfo("mps", None, packages))
    assert unavailable_reason(DataType.BFLOAT_16, DeviceInfo("cpu")) is None


def test_a_quantized_text_encoder_under_a_lora_loads_quantized(make_config):
    from modules.config.enums import DataType
    from modules.families import family_for
    from modules.families.parts.quantization import quantized_linear_names

    cfg = make_config(text_encoder__weight_dtype=DataType.INT_8)
    assert _errors(cfg) == {}
    model = family_for(cfg.model_type).load(cfg.base_model_name, cfg)
    assert quantized_linear_names(model["text_encoder"])
    assert quantized_linear_names(model["unet"]) == []


def test_lora_trains_on_an_int8_flux_transformer(make_config):
    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts.quantization import quantized_linear_names
    from modules.formats.safetensors_io import read_safetensors

    cfg = make_config("FLUX_DEV_1", epochs=2, text_encoder__train=False, text_encoder_2__train=False,
                      transformer__weight_dtype=DataType.INT_8)
    assert _errors(cfg) == {}
    trainer = create_trainer(cfg)
    trainer.start()
    transformer = trainer.model["transformer"]
    linears = _unet_linears(transformer)
    assert linears and set(quantized_linear_names(transformer)) == set(linears)
    assert all(type(m.weight).__name__ == "Int8Tensor" for n, m in transformer.named_modules() if n in linears)
    adapter = {n: p.detach().clone() for n, p in transformer.named_parameters() if "lora_B" in n}
    trainer.train()
    trainer.end()
    assert all(torch.isfinite(torch.tensor([v for _, v in trainer.loss_history])))
    assert len(trainer.loss_history) == 4
    changed = [n for n, p in transformer.named_parameters() if n in adapter and not torch.equal(p, adapter[n])]
    assert adapter and len(changed) == len(adapter)
    tensors, _ = read_safetensors(cfg.output_model_destination)
    downs = {k[: -len(".lora_down.weight")] for k in tensors if k.endswith(".lora_down.weight")}
    assert downs and all(k.startswith("lora_unet_") for k in downs)
    assert {k + s for k in downs for s in (".lora_down.weight", ".lora_up.weight", ".alpha")} == set(tensors)
