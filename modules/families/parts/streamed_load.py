"""Loading a diffusers component tensor by tensor, quantizing each selected Linear layer as soon as
its weights are read.

Loading through `from_pretrained` maps the whole safetensors file: every page it reads stays
resident next to the quantized copies until loading ends, so a quantized component peaks above the
same component in bfloat16. Here the component is built on the `meta` device from its config, each
tensor is read from the file with plain reads (no mapping), cast to the train dtype, assigned, and
its Linear layer quantized when all of the layer's tensors are in: the peak is the quantized
component plus one layer's full-precision weights. The C library keeps the heap that the freed
full-precision weights and the quantizer's temporaries leave behind, so it is handed back to the
system every `TRIM_EVERY` bytes read.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

TRIM_EVERY = 16 * 2**20
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"

# safetensors' dtype names
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


def weight_files(folder: str | Path) -> list[Path] | None:
    """The safetensors files of a diffusers component folder (one file or the shards of its index);
    None when it has neither."""
    folder = Path(folder)
    if (folder / WEIGHTS_NAME).is_file():
        return [folder / WEIGHTS_NAME]
    index = folder / INDEX_NAME
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    return None


def read_tensors(path: str | Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of a safetensors file in file order, each read into memory of its own."""
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
        header.pop("__metadata__", None)
        start_of_data = 8 + size
        for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise ValueError(f"{path}: tensor {name} has the dtype {info['dtype']}, which is not read here")
            begin, end = info["data_offsets"]
            buffer = bytearray(end - begin)
            fh.seek(start_of_data + begin)
            if fh.readinto(buffer) != len(buffer):
                raise ValueError(f"{path} ends inside tensor {name}: the file is incomplete")
            tensor = torch.frombuffer(buffer, dtype=dtype) if buffer else torch.empty(0, dtype=dtype)
            yield name, tensor.reshape(info["shape"])


def release_freed_heap() -> None:
    """Return the C library's freed heap memory to the system (glibc; elsewhere nothing to do)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def load_quantizing(cls, path: str, subfolder: str | None, dtype: torch.dtype,
                    quantize: Callable[[torch.nn.Linear], None], keep: Callable[[str], bool]):
    """A diffusers component of `path`/`subfolder` in `dtype`, each Linear layer `keep` selects
    quantized by `quantize` as soon as its tensors are read. None when the folder holds no
    safetensors weights (the caller loads it another way)."""
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device

    folder = Path(path, subfolder or "")
    files = weight_files(folder)
    if files is None:
        return None
    with init_empty_weights():
        module = cls.from_config(cls.load_config(path, subfolder=subfolder))
    # modules the class keeps in float32 stay unquantized and in float32, as diffusers loads them
    fp32_modules = tuple(getattr(cls, "_keep_in_fp32_modules", None) or ())

    def in_fp32(name: str) -> bool:
        return any(part in fp32_modules for part in name.split("."))

    # the tensors each selected Linear layer still waits for
    pending = {name: {p for p, _ in layer.named_parameters(recurse=False)}
               for name, layer in module.named_modules()
               if isinstance(layer, torch.nn.Linear) and name and keep(name) and not in_fp32(name)}
    layers = dict(module.named_modules())
    known = module.state_dict()
    expected = {key for key, value in known.items() if value.is_meta}  # buffers made by the config are in
    unexpected = []
    read_since_trim = 0
    for file in files:
        for key, tensor in read_tensors(file):
            if key not in known:
                unexpected.append(key)
                continue
            expected.discard(key)
            target = (torch.float32 if in_fp32(key) else dtype) if tensor.is_floating_point() else None
            set_module_tensor_to_device(module, key, "cpu", value=tensor, dtype=target)
            owner, _, param = key.rpartition(".")
            waiting = pending.get(owner)
            if waiting is not None:
                waiting.discard(param)
                if not waiting:
                    quantize(layers[owner])
                    del pending[owner]
            read_since_trim += tensor.nbytes
            del tensor
            if read_since_trim >= TRIM_EVERY:
                release_freed_heap()
                read_since_trim = 0
    release_freed_heap()
    if expected or unexpected:
        raise ValueError(f"{folder} does not match {cls.__name__}'s config: "
                         f"missing {sorted(expected)[:5]}, unexpected {sorted(unexpected)[:5]}")
    module.register_to_config(_name_or_path=str(path))
    module.eval()
    return module
