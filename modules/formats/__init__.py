"""Output file formats: adapter files (diffusers / kohya / ComfyUI / original / legacy conventions),
embedding files, original single-file checkpoints and their model-spec headers.

Family-specific names live in `modules.formats.keymaps` (one module per family, one registry).
"""
from modules.formats.adapter_tensors import align_to_module, rescale_to_alpha, split_alphas
from modules.formats.embedding import load_embedding, save_embedding
from modules.formats.keymaps import UnsupportedModelTypeError, keymap_for
from modules.formats.lora import LoraFile, load_lora, read_lora, save_lora
from modules.formats.lora_codecs import UnsupportedLoraFormatError
from modules.formats.model_spec import build_model_spec
from modules.formats.safetensors_io import read_metadata
from modules.formats.single_file import load_single_file, save_original_single_file

__all__ = [
    "LoraFile", "UnsupportedLoraFormatError", "align_to_module", "UnsupportedModelTypeError", "build_model_spec", "keymap_for",
    "load_embedding", "load_lora", "load_single_file", "read_lora", "read_metadata", "rescale_to_alpha",
    "save_embedding", "save_lora", "save_original_single_file", "split_alphas",
]
