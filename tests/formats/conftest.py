"""Tiny SD 1.5 / SD 2.x / SDXL pipelines with random weights and in-memory CLIP tokenizers.

UNets keep the real models' block layout (blocks, layers per block, which blocks attend) so the
default original-layout maps are the ones exercised; widths are tiny.
"""
from __future__ import annotations

import os
import string
import warnings

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", category=FutureWarning)
torch.set_num_threads(2)

_CHARS = string.ascii_letters + string.digits + ".,!?'-:;()<>"
PIXELS = 32


def clip_tokenizer(pad_token: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.setdefault(pad_token, len(vocab))
    for char in _CHARS:
        for token in (char, char + "</w>"):
            vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token=pad_token)


def clip_text_encoder(tokenizer, hidden: int, projection_dim: int | None = None, act: str = "quick_gelu"):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                            projection_dim=projection_dim or hidden, hidden_act=act,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    cls = CLIPTextModel if projection_dim is None else CLIPTextModelWithProjection
    return cls(config).eval()


def tiny_vae(scaling_factor: float):
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, layers_per_block=1,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         latent_channels=4, norm_num_groups=4, scaling_factor=scaling_factor)


def sd_unet(seed: int = 0, v2: bool = False):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(8, 8, 16, 16), layers_per_block=2, sample_size=PIXELS // 2, norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32, attention_head_dim=4 if v2 else 8, use_linear_projection=v2)


def build_sd(seed: int = 0, v2: bool = False):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    unet = sd_unet(seed, v2)  # first, so `sd_unet(seed)` alone gives the same weights
    tokenizer = clip_tokenizer("!" if v2 else "<|endoftext|>")
    text_encoder = clip_text_encoder(tokenizer, 32, act="gelu" if v2 else "quick_gelu")
    vae = tiny_vae(0.18215)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1,
                              prediction_type="v_prediction" if v2 else "epsilon")
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def build_sdxl(seed: int = 0):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer, tokenizer_2 = clip_tokenizer(), clip_tokenizer("!")
    # different widths: diffusers tells the two encoders of a single file apart by their width
    text_encoder = clip_text_encoder(tokenizer, 32)
    text_encoder_2 = clip_text_encoder(tokenizer_2, 48, projection_dim=24, act="gelu")
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16, 16), layers_per_block=2, sample_size=PIXELS // 2, norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 4), use_linear_projection=True, transformer_layers_per_block=(1, 1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 24, cross_attention_dim=32 + 48)
    vae = tiny_vae(0.13025)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="leading", steps_offset=1)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler,
                                     add_watermarker=False)


def generate(pipe, prompt: str = "a red cat") -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt, num_inference_steps=2, height=PIXELS, width=PIXELS, output_type="pt",
               generator=torch.Generator().manual_seed(0))
    return out.images


BUILDERS = {"sd15": build_sd, "sd2": lambda seed=0: build_sd(seed, v2=True), "sdxl": build_sdxl}


def family_keymaps() -> tuple:
    """Every key map the family packages define (straight from their keymap modules)."""
    from modules.families.sd.keymap import KEYMAPS as SD_KEYMAPS
    from modules.families.sdxl.keymap import KEYMAPS as SDXL_KEYMAPS

    return (*SD_KEYMAPS, *SDXL_KEYMAPS)


def keymap_for(model_type):
    """Model type -> the family's FamilyKeymap, without building the family."""
    for keymap in family_keymaps():
        if str(model_type) in keymap.model_types:
            return keymap
    raise KeyError(f"no key map for {model_type}")


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory):
    """name -> diffusers-format folder of that tiny model: the configs `from_single_file` needs offline."""
    root = tmp_path_factory.mktemp("configs")

    def get(name: str):
        folder = root / name
        if not folder.exists():
            BUILDERS[name]().save_pretrained(folder)
        return folder
    return get
