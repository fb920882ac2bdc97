"""Helpers: real peft adapters on tiny pipelines, with random non-zero weights."""
from __future__ import annotations

import torch
from peft import LoHaConfig, LoKrConfig, LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "ff.net.2", "conv1", "time_emb_proj"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
RANK, ALPHA = 4, 2.0


def adapter_config(kind: str, targets: list[str]):
    if kind == "lora":
        return LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=targets)
    if kind == "dora":
        return LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=targets, use_dora=True)
    if kind == "loha":
        return LoHaConfig(r=RANK, alpha=ALPHA, target_modules=targets)
    if kind == "lokr":
        return LoKrConfig(r=RANK, alpha=ALPHA, target_modules=targets)
    raise ValueError(kind)


def add_adapters(pipe, kind: str = "lora", text_encoders: bool = True, seed: int = 1,
                 unet_targets: list[str] = UNET_TARGETS) -> dict:
    """Inject adapters into the UNet (and text encoders), randomise them; returns per-part state dicts."""
    parts = {"unet": unet_targets}
    if text_encoders:
        parts.update({name: TE_TARGETS for name in ("text_encoder", "text_encoder_2") if getattr(pipe, name, None)})
    generator = torch.Generator().manual_seed(seed)
    state_dicts = {}
    for part, targets in parts.items():
        module = getattr(pipe, part)
        inject_adapter_in_model(adapter_config(kind, targets), module)
        with torch.no_grad():
            for name, param in module.named_parameters():
                if any(tag in name for tag in ("lora_", "hada_", "lokr_")) and "magnitude" not in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
                elif "magnitude" in name:
                    param.mul_(1.0 + 0.1 * torch.rand(param.shape, generator=generator))
        state_dicts[part] = {k: v.detach().clone() for k, v in get_peft_model_state_dict(module).items()}
    return state_dicts


def effective(parts: dict) -> dict:
    """Per module the quantities that determine the adapter's effect (alpha/rank folded into up)."""
    out = {}
    for part, state_dict in parts.items():
        modules: dict[str, dict] = {}
        for key, value in state_dict.items():
            for suffix in ("lora_A.weight", "lora_B.weight", "lora_magnitude_vector", "alpha"):
                if key.endswith("." + suffix):
                    modules.setdefault(key[: -len(suffix) - 1], {})[suffix] = value
                    break
            else:
                module, _, suffix = key.rpartition(".")
                modules.setdefault(module, {})[suffix] = value
        for module, tensors in modules.items():
            tensors = dict(tensors)
            if "lora_A.weight" in tensors:
                scale = float(tensors.pop("alpha")) / tensors["lora_A.weight"].shape[0]
                tensors["lora_B.weight"] = tensors["lora_B.weight"] * scale
            out[f"{part}.{module}"] = tensors
    return out


def assert_same_effect(a: dict, b: dict):
    ea, eb = effective(a), effective(b)
    assert ea.keys() == eb.keys()
    for module in ea:
        assert ea[module].keys() == eb[module].keys(), module
        for suffix in ea[module]:
            torch.testing.assert_close(eb[module][suffix].float(), ea[module][suffix].float(),
                                       msg=f"{module}.{suffix}")
