"""Output file formats: adapter files (diffusers / kohya / ComfyUI / original / legacy conventions),
embedding files, original single-file checkpoints and their model-spec headers.

Every function takes the model family's `FamilyKeymap` (`modules.formats.keymap`) as an argument;
the key maps themselves live in the family packages (`modules/families/<family>/keymap.py`), and
this package never imports a model family.
"""
from modules.formats.adapter_tensors import align_to_module, rescale_to_alpha, split_alphas
from modules.formats.embedding import embedding_tensors, load_embedding, save_embedding
from modules.formats.keymap import FamilyKeymap, Fusion, SingleFileComponent, TextEncoderKeys
from modules.formats.lora import LoraFile, decode_lora, encode_lora, load_lora, read_lora, save_lora
from modules.formats.lora_codecs import UnsupportedLoraFormatError
from modules.formats.model_spec import build_model_spec
from modules.formats.safetensors_io import read_metadata
from modules.formats.single_file import (
    find_config_dir,
    load_single_file,
    missing_config_message,
    original_state_dict,
    save_original_single_file,
)

__all__ = [
    "FamilyKeymap", "Fusion", "LoraFile", "SingleFileComponent", "TextEncoderKeys", "UnsupportedLoraFormatError",
    "align_to_module", "build_model_spec", "decode_lora", "embedding_tensors", "encode_lora", "find_config_dir",
    "load_embedding", "load_lora", "load_single_file", "missing_config_message", "original_state_dict",
    "read_lora", "read_metadata", "rescale_to_alpha", "save_embedding", "save_lora", "save_original_single_file",
    "split_alphas",
]
