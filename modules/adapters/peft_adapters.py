"""LoRA / LoHa / LoKr / DoRA / OFT adapters through peft.

In memory adapters keep peft's naming per model part; modules.formats converts to and from the
file conventions (kohya, diffusers, comfy ...).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from modules.config.enums import PeftType

ADAPTER_NAME = "default"


@dataclass
class AdapterInfo:
    part: str
    peft_type: PeftType
    rank: int
    alpha: float
    target_modules: list[str]


def peft_config(config, target_modules: list[str], rank: int | None = None, alpha: float | None = None):
    import peft

    kind = PeftType(config.peft_type)
    rank = int(rank if rank is not None else (config.lokr_dim if kind == PeftType.LOKR else config.lora_rank))
    alpha = float(alpha if alpha is not None else config.lora_alpha)
    dropout = float(config.dropout_probability)
    if kind == PeftType.LORA:
        return peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                               use_dora=bool(config.lora_decompose), init_lora_weights=True)
    if kind == PeftType.LOHA:
        return peft.LoHaConfig(r=rank, alpha=alpha, module_dropout=dropout, target_modules=target_modules)
    if kind == PeftType.LOKR:
        return peft.LoKrConfig(r=rank, alpha=alpha, module_dropout=dropout, target_modules=target_modules,
                               decompose_both=bool(config.lokr_decompose_both),
                               decompose_factor=int(config.lokr_decompose_factor),
                               use_effective_conv2d=bool(config.lokr_use_tucker))
    if config.oft_scaled:
        raise ValueError("scaled OFT (oft_scaled) is not available: switch it off to train OFT")
    return peft.OFTConfig(r=0, oft_block_size=int(config.oft_block_size), target_modules=target_modules,
                          module_dropout=dropout, block_share=bool(config.oft_block_share))


def trainable_targets(module: torch.nn.Module, targets: list[str], config) -> list[str]:
    """The targets this adapter type trains correctly. peft's OFT rotates the unfolded input patches
    of a Conv2d and folds them back by summing the overlaps, which is the identity at initialisation
    only for 1x1 kernels; larger convolutions are left out."""
    if PeftType(config.peft_type) != PeftType.OFT_2:
        return targets
    layers = dict(module.named_modules())
    return [t for t in targets if not isinstance(layers.get(t), torch.nn.Conv2d)
            or tuple(layers[t].kernel_size) == (1, 1)]


def attach_adapter(module: torch.nn.Module, part: str, config, target_modules: list[str],
                   rank: int | None = None, alpha: float | None = None) -> AdapterInfo:
    """Wrap the selected layers of `module` in place; only adapter weights require grad afterwards."""
    from peft import inject_adapter_in_model

    # peft reads a list entry as a name suffix (`proj_out` would also adapt every `*.proj_out`); one
    # regex of the exact names adapts only the selected layers
    exact = "|".join(re.escape(name) for name in target_modules)
    cfg = peft_config(config, exact, rank, alpha)
    module.requires_grad_(False)
    inject_adapter_in_model(cfg, module, adapter_name=ADAPTER_NAME)
    dtype = config.lora_weight_dtype.torch_dtype() or torch.float32
    for name, param in module.named_parameters():
        if _is_adapter_param(name):
            param.data = param.data.to(dtype)
            param.requires_grad_(True)
    kind = PeftType(config.peft_type)
    return AdapterInfo(part=part, peft_type=kind, rank=cfg.r, alpha=float(getattr(cfg, "lora_alpha", None)
                       or getattr(cfg, "alpha", cfg.r) or cfg.r), target_modules=list(target_modules))


_MARKERS = ("lora_", "hada_", "lokr_", "oft_")


def _is_adapter_param(name: str) -> bool:
    return any(m in name for m in _MARKERS)


def adapter_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for n, p in module.named_parameters() if _is_adapter_param(n)]


def adapter_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The part's adapter tensors in peft naming (`<module>.lora_A.weight` ...), detached copies."""
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(module, adapter_name=ADAPTER_NAME)
    return {k: v.detach().clone() for k, v in state.items()}


def adapted_modules(part_state: dict[str, torch.Tensor]) -> list[str]:
    """Module paths an adapter state dict (peft naming, alpha entries allowed) covers."""
    from modules.formats.adapter_tensors import split_key

    return sorted({split_key(k)[0] for k in part_state})


def file_rank_alpha(part_state: dict[str, torch.Tensor]) -> tuple[int | None, float | None]:
    rank = alpha = None
    for key, value in part_state.items():
        if key.endswith("lora_A.weight") or key.endswith("hada_w1_b"):
            rank = rank or int(value.shape[0])
        elif key.endswith(".alpha"):
            alpha = alpha or float(value)
    return rank, alpha


def load_adapter_state(module: torch.nn.Module, part_state: dict[str, torch.Tensor]) -> None:
    """peft-named weights (no alpha entries) → the attached adapter."""
    from peft.utils import set_peft_model_state_dict

    result = set_peft_model_state_dict(module, dict(part_state), adapter_name=ADAPTER_NAME)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"adapter file does not fit the model: {unexpected[:3]} ...")


def set_adapter_dropout_training(module: torch.nn.Module, training: bool) -> None:
    """Models stay in eval mode; only the adapter layers (their dropout) follow the training state."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for sub in module.modules():
        if isinstance(sub, BaseTunerLayer):
            sub.train(training)


@contextmanager
def adapters_disabled(modules):
    """Run the base model: every adapter layer of the given modules switched off, then restored."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for module in modules for m in module.modules() if isinstance(m, BaseTunerLayer)]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)
