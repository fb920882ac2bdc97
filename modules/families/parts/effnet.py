"""The EfficientNetV2-S image encoder of Würstchen v2 and Stable Cascade ("effnet"): pixels → the
16-channel stage-C latents that their priors learn. diffusers does not ship it, so it is built here in
plain torch.

Module tree and key names are those of the published checkpoints (Würstchen's
`warp-ai/EfficientNetEncoder` folder, Stable Cascade's `effnet_encoder.safetensors`): the
EfficientNetV2-S feature extractor under `backbone.N…` (`backbone.0` the stem, `backbone.1`–`backbone.6`
the stages of `.M.block.K…` blocks, `backbone.7` the 1×1 head to 1280 channels) and the mapper head
`mapper.0` (1×1 conv to the latent channels) + `mapper.1` (a batch norm that normalises them; with
scale and shift in Würstchen's file, without in Stable Cascade's). A tiny configuration (few channels
and blocks) is the same class with other `stem_channels` / `stages`.

The encoder sees images at three quarters of the training resolution, ImageNet-normalised, and
reduces them 32×: a 1024 px side becomes 24 latent cells (42⅔ pixels per cell), a 128 px bucket step
exactly 3.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# (kind, expansion, stride, in channels, out channels, blocks) of EfficientNetV2-S, 3×3 kernels
V2_S_STAGES = (
    ("fused", 1, 1, 24, 24, 2),
    ("fused", 4, 2, 24, 48, 4),
    ("fused", 4, 2, 48, 64, 4),
    ("mbconv", 4, 2, 64, 128, 6),
    ("mbconv", 6, 1, 128, 160, 9),
    ("mbconv", 6, 2, 160, 256, 15),
)
V2_S_STEM = 24
V2_S_HEAD = 1280
BN_EPS = 1e-3  # EfficientNetV2's batch norms
INPUT_SCALE = 0.75  # the encoder reads images at 3/4 of the training size
PIXELS_PER_LATENT = 32 / INPUT_SCALE
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_norm(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """conv (no bias) → batch norm → SiLU: indices 0, 1 (2) as in the published keys."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(c_out, eps=BN_EPS)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.silu(self.fc1(scale))))


class EffnetBlock(nn.Module):
    """One (fused) MBConv block; its layers sit in `block` as in the published keys."""

    def __init__(self, kind: str, expansion: int, stride: int, c_in: int, c_out: int):
        super().__init__()
        expanded = c_in * expansion
        layers: list[nn.Module] = []
        if kind == "fused":
            if expanded != c_in:
                layers += [_conv_norm(c_in, expanded, 3, stride), _conv_norm(expanded, c_out, 1, act=False)]
            else:
                layers.append(_conv_norm(c_in, c_out, 3, stride))
        elif kind == "mbconv":
            if expanded != c_in:
                layers.append(_conv_norm(c_in, expanded, 1))
            layers += [_conv_norm(expanded, expanded, 3, stride, groups=expanded),
                       SqueezeExcitation(expanded, max(1, c_in // 4)), _conv_norm(expanded, c_out, 1, act=False)]
        else:
            raise ValueError(f"unknown EfficientNet block kind {kind!r} (fused or mbconv)")
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        out = self.block(x)
        return out + x if self.residual else out


class EfficientNetEncoder(ModelMixin, ConfigMixin):
    """EfficientNetV2-S features + the latent mapper. `effnet`, `c_latent` and `c_cond` are the
    config keys of the published Würstchen folder; `stem_channels`, `stages` and `mapper_affine`
    describe the backbone (default: V2-S) and the mapper norm, for tiny test models and Stable
    Cascade's scale-free norm."""

    @register_to_config
    def __init__(self, c_latent: int = 16, c_cond: int = V2_S_HEAD, effnet: str = "efficientnet_v2_s",
                 stem_channels: int = V2_S_STEM, stages: list | None = None, mapper_affine: bool = True):
        super().__init__()
        if effnet != "efficientnet_v2_s":
            raise ValueError(f"only the efficientnet_v2_s image encoder is supported, not {effnet!r}")
        stages = [tuple(s) for s in (stages or V2_S_STAGES)]
        modules: list[nn.Module] = [_conv_norm(3, stem_channels, 3, 2)]
        for kind, expansion, stride, c_in, c_out, blocks in stages:
            modules.append(nn.Sequential(*(EffnetBlock(kind, expansion, stride if i == 0 else 1,
                                                       c_in if i == 0 else c_out, c_out) for i in range(blocks))))
        modules.append(_conv_norm(stages[-1][4], c_cond, 1))
        self.backbone = nn.Sequential(*modules)
        self.mapper = nn.Sequential(nn.Conv2d(c_cond, c_latent, 1, bias=False),
                                    nn.BatchNorm2d(c_latent, affine=mapper_affine))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mapper(self.backbone(x))


def preprocess(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] at training size → the encoder's input: 3/4 size, ImageNet-normalised."""
    h, w = pixels.shape[-2:]
    size = (max(1, round(h * INPUT_SCALE)), max(1, round(w * INPUT_SCALE)))
    x = F.interpolate((pixels.float() + 1) / 2, size=size, mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def encode(encoder: EfficientNetEncoder, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] → raw effnet latents [B, c_latent, ~h·3/128, ~w·3/128]."""
    dtype = next(encoder.parameters()).dtype
    x = preprocess(pixels).to(device=next(encoder.parameters()).device, dtype=dtype)
    return encoder(x).float()


def load(source: str | Path, dtype: torch.dtype | None = None) -> EfficientNetEncoder:
    """A folder saved by `save_pretrained` (Würstchen's layout: config.json + weights), or one weights
    file with the published keys (Stable Cascade's): V2-S, mapper norm with or without scale and shift
    as the file holds it. Loaded strictly: a file of another layout is refused by name."""
    source = Path(source)
    if source.is_dir():
        config = json.loads((source / "config.json").read_text())
        encoder = EfficientNetEncoder.from_config(config)
        state = _read_weights(_weights_file(source))
    else:
        state = _read_weights(source)
        encoder = EfficientNetEncoder(c_latent=int(state["mapper.0.weight"].shape[0]) if "mapper.0.weight" in state
                                      else 16, mapper_affine="mapper.1.weight" in state)
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{source} is not an EfficientNetV2-S image encoder of this configuration: "
                         f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    encoder.requires_grad_(False).eval()
    return encoder.to(dtype) if dtype is not None else encoder


def _weights_file(folder: Path) -> Path:
    for name in ("diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no image-encoder weights in {folder}")
    return files[0]


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return state.get("effnet_state_dict", state) if isinstance(state, dict) else state


def tiny(seed: int = 0, c_latent: int = 16, mapper_affine: bool = True) -> EfficientNetEncoder:
    """A few-kilobyte encoder of the same structure (both block kinds, the same 32× reduction), with
    mapper statistics that give latents of roughly unit scale."""
    torch.manual_seed(seed)
    stages = [["fused", 1, 1, 8, 8, 1], ["fused", 2, 2, 8, 8, 1], ["fused", 2, 2, 8, 12, 1],
              ["mbconv", 2, 2, 12, 16, 1], ["mbconv", 2, 1, 16, 16, 1], ["mbconv", 2, 2, 16, 16, 1]]
    encoder = EfficientNetEncoder(c_latent=c_latent, c_cond=32, stem_channels=8, stages=stages,
                                  mapper_affine=mapper_affine)
    # batch-norm statistics of random images (as training would have left them): without them the
    # random layers shrink every image to nearly the same latent
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = None  # cumulative average
    encoder.train()
    with torch.no_grad():
        for _ in range(4):
            encoder(preprocess(torch.rand(4, 3, 128, 128, generator=generator) * 2 - 1))
    for norm in norms:
        norm.momentum = 0.1
    return encoder.eval()
