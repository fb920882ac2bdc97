"""Where a tool's model weights are: a local folder or file, or a hub name already in the local cache."""
from __future__ import annotations

from pathlib import Path

from modules.tools.task import ToolError


def not_cached(name: str) -> ToolError:
    return ToolError(f'model {name} is not in the local cache; connect to the internet once or give a local folder')


def is_hub_name(name: str) -> bool:
    """Whether a model name means a hub repository (`owner/name`, no such local path) rather than a path."""
    name = name.strip()
    path = Path(name).expanduser()
    return not path.exists() and not path.is_absolute() and not name.startswith('.') and name.count('/') == 1


def model_folder(name: str) -> Path:
    """A local path as it is; a hub name resolved to its snapshot (downloaded only when online)."""
    name = name.strip()
    if not name:
        raise ToolError('no model was given')
    path = Path(name).expanduser()
    if path.exists():
        return path
    if not is_hub_name(name):
        raise ToolError(f'the model {name} does not exist')
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=constants.HF_HUB_OFFLINE))
    except Exception as exc:  # noqa: BLE001 - every hub failure means the same to the user
        raise not_cached(name) from exc


def load_failure(name: str, exc: BaseException) -> ToolError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ToolError(f'the model {name} could not be loaded: {first}')


DTYPES = ('FLOAT_32', 'FLOAT_16', 'BFLOAT_16')


def default_device() -> str:
    import torch

    return 'cuda' if torch.cuda.is_available() else 'cpu'


def torch_device_and_dtype(device: str, dtype: str):
    """The torch device and dtype to run on; half precision only where the device computes it."""
    import torch

    device = (device or default_device()).strip()
    try:
        torch_device = torch.device(device)
    except RuntimeError as exc:
        raise ToolError(f'unknown device {device!r}') from exc
    if torch_device.type == 'cuda' and not torch.cuda.is_available():
        raise ToolError(f'the device {device} is not available here (no CUDA GPU)')
    if dtype not in DTYPES:
        raise ToolError(f'unknown dtype {dtype!r}: one of {", ".join(DTYPES)}')
    if torch_device.type == 'cpu':
        return torch_device, torch.float32
    return torch_device, {'FLOAT_32': torch.float32, 'FLOAT_16': torch.float16,
                          'BFLOAT_16': torch.bfloat16}[dtype]


def onnx_providers(device: str) -> list[str]:
    import onnxruntime

    if (device or default_device()).startswith('cuda') \
            and 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        return ['CUDAExecutionProvider', 'CPUExecutionProvider']
    return ['CPUExecutionProvider']
