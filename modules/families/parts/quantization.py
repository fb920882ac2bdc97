"""Quantized base weights: each quantized `DataType` mapped to a back-end that diffusers and
transformers integrate, applied while a component loads, and the answer whether it can run here.

| weight dtype | back-end | runs on |
|---|---|---|
| INT_8 | torchao int8 weight-only | CPU, CUDA |
| INT_W8A8, INT_W8A8_COMPRESSED | torchao int8 weights, dynamic int8 activations | CPU, CUDA |
| FLOAT_8 | torchao float8 weight-only | CPU, CUDA |
| FLOAT_W8A8, FLOAT_W8A8_COMPRESSED | torchao float8 weights, dynamic float8 activations | CUDA 8.9+ |
| NFLOAT_4 | bitsandbytes 4-bit NormalFloat | CUDA |
| GGUF | gguf: a `.gguf` file, dequantized layer by layer | CPU, CUDA |
| GGUF_A8_FLOAT, GGUF_A8_INT | none: no integrated back-end runs GGUF weights with 8-bit activations | |

GGUF loads the transformer from its own `.gguf` file (`transformer.model_name`) through diffusers'
single-file loader with its GGUF quantizer, so for the families whose transformer class has such a
loader (`GGUF_DENOISERS`); the base model folder gives the transformer's config. Files in the
family's original layout are converted by the keymap at any model size (`parts/denoiser_file.py`).
The torchao types load a diffusers component layer by layer from its file (`parts/streamed_load.py`),
quantizing each Linear layer as it is read, so the full-precision weights are never all in memory.
The `*_COMPRESSED` types use the back-end of their uncompressed type (torchao keeps the weights in
their 8-bit form in memory). Only `Linear` layers are quantized; `quantization.layer_filter` (with
`layer_filter_regex`) narrows them the way the training layer filter does. A quantized part is
frozen: LoRA-style adapters train on top of it, its own weights never change; everything that is not
quantized (norms, convolutions, biases, adapters) is in the train dtype.

`quantization_problems` is pure (no torch, no loading) for a CPU train device: `modules.engine.check`
asks it before a start, and `refuse_unavailable` raises the same answer when a run starts anyway.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field

from modules.config.enums import DataType, TrainingMethod
from modules.config.validation import Problem


@dataclass(frozen=True)
class Scheme:
    """How one quantized weight dtype is realised."""

    backend: str  # 'torchao' | 'bitsandbytes' | 'gguf' | '' (none)
    package: str  # the import name the back-end needs
    description: str
    cpu: bool  # runs on a CPU train device
    cuda_capability: tuple[int, int] | None = None  # the least CUDA compute capability, None = any


_TORCHAO = "torchao"
SCHEMES: dict[str, Scheme] = {
    "INT_8": Scheme(_TORCHAO, "torchao", "int8 weight-only", cpu=True),
    "INT_W8A8": Scheme(_TORCHAO, "torchao", "int8 weights with dynamic int8 activations", cpu=True),
    "FLOAT_8": Scheme(_TORCHAO, "torchao", "float8 weight-only", cpu=True),
    "FLOAT_W8A8": Scheme(_TORCHAO, "torchao", "float8 weights with dynamic float8 activations", cpu=False,
                         cuda_capability=(8, 9)),
    "NFLOAT_4": Scheme("bitsandbytes", "bitsandbytes", "4-bit NormalFloat", cpu=False),
    "GGUF": Scheme("gguf", "gguf", "GGUF file weights", cpu=True),
    "GGUF_A8_FLOAT": Scheme("", "", "GGUF weights with float8 activations", cpu=False),
    "GGUF_A8_INT": Scheme("", "", "GGUF weights with int8 activations", cpu=False),
}
SCHEMES["INT_W8A8_COMPRESSED"] = SCHEMES["INT_W8A8"]
SCHEMES["FLOAT_W8A8_COMPRESSED"] = SCHEMES["FLOAT_W8A8"]

_BACKEND_NAMES = {"torchao": "torchao", "bitsandbytes": "bitsandbytes", "gguf": "gguf"}

# family package -> its transformer class, for the families whose transformer diffusers loads from a
# single file (`from_single_file`, and with it GGUF); kept here, torch-free, for the check before a start
GGUF_DENOISERS: dict[str, str] = {
    "flux": "FluxTransformer2DModel",
    "chroma": "ChromaTransformer2DModel",
    "sd3": "SD3Transformer2DModel",
    "ernie": "ErnieImageTransformer2DModel",
    "krea2": "Krea2Transformer2DModel",
    "qwen": "QwenImageTransformer2DModel",
    "zimage": "ZImageTransformer2DModel",
    "hidream": "HiDreamImageTransformer2DModel",
    "flux2": "Flux2Transformer2DModel",
    "sana": "SanaTransformer2DModel",
    "hunyuan_video": "HunyuanVideoTransformer3DModel",
}


def is_quantized(dtype) -> bool:
    """A weight dtype that no plain torch dtype stores (a quantized or GGUF type)."""
    try:
        return DataType(dtype).value in SCHEMES
    except ValueError:
        return False


def scheme(dtype) -> Scheme | None:
    return SCHEMES.get(DataType(dtype).value)


# ---------------------------------------------------------------- the device a run trains on
@dataclass(frozen=True)
class DeviceInfo:
    """What the train device offers: its kind ('cpu', 'cuda', 'mps' ...), the CUDA compute
    capability, and which back-end packages are installed."""

    kind: str
    cuda_capability: tuple[int, int] | None = None
    packages: frozenset[str] = field(default_factory=frozenset)

    def label(self) -> str:
        if self.kind == "cuda" and self.cuda_capability is not None:
            return f"cuda (compute capability {self.cuda_capability[0]}.{self.cuda_capability[1]})"
        return self.kind


def installed_packages() -> frozenset[str]:
    return frozenset(p for p in _BACKEND_NAMES.values() if importlib.util.find_spec(p) is not None)


def device_info(train_device: str | None) -> DeviceInfo:
    """The train device as `quantization_problems` needs it; torch is asked only about a CUDA device."""
    kind = (train_device or "cpu").split(":", 1)[0].strip().lower() or "cpu"
    capability = None
    if kind == "cuda":
        import torch

        if torch.cuda.is_available():
            index = (train_device or "").partition(":")[2]
            capability = tuple(torch.cuda.get_device_capability(int(index) if index.isdigit() else None))
    return DeviceInfo(kind, capability, installed_packages())


# ---------------------------------------------------------------- can it run here
def _runs_on_cpu() -> str:
    names = [name for name, s in SCHEMES.items() if s.cpu and s.backend == _TORCHAO and "COMPRESSED" not in name]
    return f"{', '.join(names)} ({_TORCHAO})"


def unavailable_reason(dtype, device: DeviceInfo) -> str | None:
    """Why a part in quantized `dtype` cannot load on `device`, with what would work; None when it can."""
    value = DataType(dtype).value
    s = SCHEMES.get(value)
    if s is None:
        return None
    if not s.backend:
        return (f"{value} ({s.description}) is not available: no integrated back-end runs it; "
                f"use GGUF, {_runs_on_cpu()} or a float type")
    if device.kind == "cuda" and device.cuda_capability is None:
        return f"{value} needs a CUDA device, and none is available here; use a float type"
    if device.kind == "cpu" and not s.cpu:
        kernels = ("bitsandbytes' CUDA kernels" if s.backend == "bitsandbytes"
                   else f"{s.backend}'s CUDA kernels (compute capability "
                        f"{'.'.join(map(str, s.cuda_capability or ()))}+)")
        return f"{value} needs {kernels}; on CPU use {_runs_on_cpu()} or a float type"
    if device.kind not in ("cpu", "cuda"):
        return f"{value} ({s.backend}) does not run on {device.kind}; train on CPU or CUDA, or use a float type"
    if device.kind == "cuda" and s.cuda_capability is not None and device.cuda_capability < s.cuda_capability:
        need = ".".join(map(str, s.cuda_capability))
        return (f"{value} needs a GPU of compute capability {need} or newer, this one is "
                f"{'.'.join(map(str, device.cuda_capability))}; use INT_8, INT_W8A8, FLOAT_8 or a float type")
    if s.package not in device.packages:
        return f"{value} needs the {s.package} package (pip install {s.package}), which is not installed"
    return None



def gguf_file(config, part: str) -> str | None:
    """The `.gguf` file the part loads from (its own model name), or None."""
    own = str(getattr(getattr(config, part, None), "model_name", "") or "")
    return own if own.lower().endswith(".gguf") else None


def quantized_parts(config, facts) -> dict[str, DataType]:
    """The parts of the family that load in a quantized dtype (text encoders switched off left out)."""
    parts = {}
    for part in facts.parts:
        part_cfg = getattr(config, part, None)
        if part_cfg is None or not is_quantized(part_cfg.weight_dtype):
            continue
        if part in facts.text_encoder_parts and not part_cfg.include:
            continue
        parts[part] = DataType(part_cfg.weight_dtype)
    return parts


def _trains_weights(config, facts, part: str) -> bool:
    method = str(config.training_method)
    if method == str(TrainingMethod.FINE_TUNE):
        return part in (facts.denoiser, *facts.text_encoder_parts) and bool(getattr(config, part).train)
    return method == str(TrainingMethod.FINE_TUNE_VAE) and part == "vae"


def quantization_problems(config, facts, device: DeviceInfo | None = None) -> list[Problem]:
    """An error for every part whose quantized weight dtype cannot load or train here, naming the
    part, the dtype and what would work. `device` defaults to the config's train device."""
    parts = quantized_parts(config, facts)
    problems = []
    denoiser = facts.denoiser
    base = str(getattr(config, "base_model_name", "") or "").strip()
    if base.lower().endswith(".gguf"):
        problems.append(Problem("base_model_name", f"{base} is a GGUF file, which holds a transformer alone: set it "
                                                   "as transformer.model_name with transformer.weight_dtype GGUF, "
                                                   "and a diffusers folder as the base model"))
    if gguf_file(config, denoiser) is not None and denoiser not in parts:  # a float dtype (quantized: below)
        problems.append(Problem(f"{denoiser}.weight_dtype", f"{denoiser}.model_name is a GGUF file: set "
                                                            f"{denoiser}.weight_dtype to GGUF"))
    if not parts:
        return problems
    device = device or device_info(getattr(config, "train_device", "cpu"))
    for part, dtype in parts.items():
        path = f"{part}.weight_dtype"
        name = dtype.value
        if part == "vae":
            problems.append(Problem(path, f"{name}: the VAE is not quantized (its layers are convolutions); "
                                          "use a float type"))
            continue
        if _trains_weights(config, facts, part):
            problems.append(Problem(path, f"{name}: a quantized part cannot be fine-tuned (its weights are frozen); "
                                          f"train a LoRA on it, switch {part}.train off or use a float type"))
            continue
        reason = unavailable_reason(dtype, device)
        if reason is None:
            reason = _source_problem(config, facts, part, dtype)
        if reason is not None:
            problems.append(Problem(path, reason))
    return problems


def gguf_loads(facts, part: str) -> bool:
    """The family loads `part` from a `.gguf` file of its own."""
    return part == facts.denoiser == "transformer" and facts.package in GGUF_DENOISERS


def _source_problem(config, facts, part: str, dtype: DataType) -> str | None:
    own_file = gguf_file(config, part)
    if dtype.is_gguf():
        if not gguf_loads(facts, part):
            loads = "its transformer has no single-file loader in diffusers" if part == "transformer" \
                else f"it loads {part} from no file of its own"
            from modules.families.registry import all_facts

            families = ", ".join(f.name for f in all_facts() if f.package in GGUF_DENOISERS)
            return (f"{dtype.value} loads a transformer from its own .gguf file, and {facts.name} cannot: {loads} "
                    f"(GGUF works for {families}); use {_runs_on_cpu()} to quantize while loading, "
                    "or a float type")
        if own_file is None:
            return (f"{dtype.value} loads the weights of a .gguf file; set {part}.model_name to one, "
                    f"or use {_runs_on_cpu()} to quantize while loading")
        return None
    if own_file is not None:
        return f"{part}.model_name is a GGUF file: set {part}.weight_dtype to GGUF"
    base = str(getattr(config, "base_model_name", "") or "")
    if SCHEMES[dtype.value].backend == "bitsandbytes" and os.path.isfile(base):
        return f"{dtype.value} quantizes while loading a diffusers folder; {base} is a single file"
    return None


class QuantizationUnavailable(ValueError):
    """A quantized weight dtype that cannot run on this device (raised before anything loads)."""


def refuse_unavailable(config, model_type) -> None:
    """Raise QuantizationUnavailable with `quantization_problems`' messages, if there are any."""
    from modules.families.registry import facts_for

    facts = facts_for(model_type) if config is not None else None
    if facts is None:
        return
    problems = quantization_problems(config, facts)
    if problems:
        raise QuantizationUnavailable("; ".join(f"{p.path}: {p.message}" for p in problems))


# ---------------------------------------------------------------- applying it while loading
def quantized_dtype(config, part: str) -> DataType | None:
    part_cfg = getattr(config, part, None) if config is not None else None
    if part_cfg is None or not is_quantized(part_cfg.weight_dtype):
        return None
    return DataType(part_cfg.weight_dtype)


def compute_dtype(config):
    """The dtype a quantized part runs in (and its unquantized weights are stored in): the train dtype."""
    import torch

    dtype = config.train_dtype.torch_dtype() if config is not None else None
    return dtype or torch.float32


def layer_keep(config):
    """The quantization layer filter: a predicate on a Linear layer's full name."""
    from modules.adapters.layer_filter import parse_layer_filter

    q = getattr(config, "quantization", None)
    if q is None:
        return lambda name: True
    return parse_layer_filter(q.layer_filter, q.layer_filter_regex)


def _torchao_config(dtype: DataType):
    import torchao.quantization as q

    value = dtype.uncompressed()
    if value == "INT_8":
        return q.Int8WeightOnlyConfig()
    if value == "INT_W8A8":
        return q.Int8DynamicActivationInt8WeightConfig()
    if value == "FLOAT_8":
        return q.Float8WeightOnlyConfig()
    return q.Float8DynamicActivationFloat8WeightConfig()


def linear_names(cls, path: str, subfolder: str | None) -> list[str]:
    """Full names of the Linear layers of a component, from its config alone (no weights loaded)."""
    import torch
    from accelerate import init_empty_weights

    with init_empty_weights():
        if hasattr(cls, "load_config"):  # diffusers
            module = cls.from_config(cls.load_config(path, subfolder=subfolder))
        else:  # transformers
            module = cls._from_config(cls.config_class.from_pretrained(path, subfolder=subfolder))
    return [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear) and n]


def loading_kwargs(cls, path: str, subfolder: str | None, config, part: str) -> dict:
    """`from_pretrained` arguments that load `part` in its weight dtype: quantized, or a float dtype."""
    import diffusers
    import transformers

    library = diffusers if cls.__module__.startswith("diffusers") else transformers
    key = "torch_dtype" if library is diffusers else "dtype"
    dtype = quantized_dtype(config, part)
    if dtype is None:  # a float part loads straight into its weight dtype (no float32 copy first)
        part_cfg = getattr(config, part, None) if config is not None else None
        float_dtype = part_cfg.weight_dtype.torch_dtype() if part_cfg is not None else None
        return {key: float_dtype} if float_dtype is not None else {}
    skip = None
    if getattr(getattr(config, "quantization", None), "layer_filter", ""):
        keep = layer_keep(config)
        skip = [n for n in linear_names(cls, path, subfolder) if not keep(n)]
    backend = SCHEMES[dtype.value].backend
    torch_dtype = compute_dtype(config)
    if backend == "bitsandbytes":
        qc = library.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                        bnb_4bit_compute_dtype=torch_dtype, llm_int8_skip_modules=skip)
    elif backend == _TORCHAO:
        qc = library.TorchAoConfig(_torchao_config(dtype), modules_to_not_convert=skip)
    else:
        raise QuantizationUnavailable(f"{part}.weight_dtype {dtype.value} does not load from a diffusers folder")
    return {"quantization_config": qc, key: torch_dtype}


def load_streamed(cls, path: str, subfolder: str | None, config, part: str):
    """A diffusers component quantized layer by layer while its file is read (`streamed_load`), so
    the full-precision weights are never all in memory; None where that does not apply (no torchao
    type, a transformers class, no safetensors weights), and the caller loads with `loading_kwargs`."""
    dtype = quantized_dtype(config, part)
    if dtype is None or SCHEMES[dtype.value].backend != _TORCHAO or not cls.__module__.startswith("diffusers"):
        return None
    from diffusers import TorchAoConfig
    from diffusers.quantizers import DiffusersAutoQuantizer
    from torchao.quantization import quantize_

    from .streamed_load import load_quantizing

    scheme_config = _torchao_config(dtype)
    module = load_quantizing(cls, path, subfolder, compute_dtype(config),
                             lambda layer: quantize_(layer, scheme_config), layer_keep(config))
    if module is not None:  # marked as diffusers marks a component it quantized (PEFT reads it)
        quantizer = DiffusersAutoQuantizer.from_config(TorchAoConfig(scheme_config))
        quantizer.postprocess_model(module)
        module.hf_quantizer = quantizer
    return module


def complete(module, config, part: str) -> None:
    """After loading: quantize the Linear layers the filter selects that loading left out (back-ends
    match skipped names by substring, so a layer whose name ends another's can be skipped with it)."""
    dtype = quantized_dtype(config, part)
    if dtype is None or SCHEMES[dtype.value].backend != _TORCHAO:
        return
    import torch
    from torchao.quantization import quantize_

    keep = layer_keep(config)
    missing = {n for n, m in module.named_modules()
               if isinstance(m, torch.nn.Linear) and n and keep(n) and not is_quantized_linear(m)}
    if missing:
        quantize_(module, _torchao_config(dtype), filter_fn=lambda m, name: name in missing)
    release_file(module)


def release_file(module) -> None:
    """Give a quantized component its own copy of the tensors it kept unquantized (norms, biases ...):
    loading leaves them as views of the mapped weights file, which keeps the whole file resident
    next to the quantized copies. Then hand freed heap back to the system where the C library can."""
    import ctypes
    import gc

    import torch

    for sub in module.modules():
        for param in list(sub.parameters(recurse=False)):
            if type(param) is torch.nn.Parameter:
                param.data = param.data.clone()
        for name, buffer in list(sub.named_buffers(recurse=False)):
            if type(buffer) is torch.Tensor:
                setattr(sub, name, buffer.clone())
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def quantize_loaded(module, config, part: str):
    """Quantize a component that loaded in full precision (a single-file checkpoint): torchao
    back-ends only, in place; the unquantized weights go to the train dtype first."""
    dtype = quantized_dtype(config, part)
    if dtype is None:
        return module
    if SCHEMES[dtype.value].backend != _TORCHAO:
        raise QuantizationUnavailable(f"{part}.weight_dtype {dtype.value} cannot quantize a loaded component")
    module.to(dtype=compute_dtype(config))
    complete(module, config, part)
    return module


def load_gguf(cls, gguf_file: str, config_path: str, subfolder: str, config, part: str, from_original=None):
    """A component from a `.gguf` file: its weights stay GGUF-quantized, dequantized per layer in the
    train dtype. The component's config comes from the base model's folder; `from_original` converts
    a file in the family's original layout."""
    from . import denoiser_file

    torch_dtype = compute_dtype(config)
    return denoiser_file.load(cls, gguf_file, config_path, subfolder, torch_dtype, from_original=from_original)


def is_quantized_linear(layer) -> bool:
    """A Linear layer whose weight a quantization back-end holds (torchao tensor subclass,
    bitsandbytes 4-bit parameter, GGUF parameter)."""
    import torch

    weight = getattr(layer, "weight", None)
    if weight is None:
        return False
    if type(layer).__module__.startswith("bitsandbytes"):
        return True
    return type(weight) not in (torch.Tensor, torch.nn.Parameter) or weight.dtype in (
        torch.int8, torch.uint8, torch.float8_e4m3fn, torch.float8_e5m2)


def quantized_linear_names(module) -> list[str]:
    import torch

    return [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear) and is_quantized_linear(m)]
