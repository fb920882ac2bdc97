"""Render one image from a model, as OneTrainer's scripts/sample.py, optionally with LoRA files.

    python -m modules.cli.sample --model-type STABLE_DIFFUSION_15 --base-model-name PATH
        --prompt TEXT --destination OUT [--negative-prompt TEXT] [--height 512] [--width 512]
        [--weight-dtype FLOAT_32] [--embedding-name FILE ...] [--text-encoder-layer-skip 0]
        [--sample-inpainting --base-image-path IMG --mask-image-path MASK]
        [--lora-name FILE ...] [--diffusion-steps N] [--seed 42] [--cfg-scale X] [--device cuda]

Seed 42, JPG output (the extension is added to the destination), with a JSON sidecar of the
settings beside it. Several LoRA files give one image each, `OUT-<LoRA file name>.jpg`, on the
same seed, the base model loaded once.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules.config.enums import DataType, ImageFormat, ModelType, NoiseScheduler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.sample", description="Sample one image.")
    parser.add_argument("--model-type", required=True, choices=ModelType.names())
    parser.add_argument("--weight-dtype", default="FLOAT_32", choices=DataType.names())
    parser.add_argument("--base-model-name", required=True)
    parser.add_argument("--embedding-name", action="append", default=[],
                        help="embedding file; repeatable. One answers to <embedding> in the prompt, "
                             "several to <file name without extension>")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--destination", required=True, help="output path without extension")
    parser.add_argument("--text-encoder-layer-skip", type=int, default=0)
    parser.add_argument("--sample-inpainting", action="store_true")
    parser.add_argument("--base-image-path", default="")
    parser.add_argument("--mask-image-path", default="")
    parser.add_argument("--lora-name", action="append", default=[],
                        help="LoRA file (any adapter type and convention we train); repeatable: one image per file")
    parser.add_argument("--diffusion-steps", type=int, default=None, help="default: the model type's default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cfg-scale", type=float, default=None, help="default: the model type's default")
    parser.add_argument("--sampler", default=None, choices=NoiseScheduler.names(),
                        help="default: the model type's default")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    return parser


def destinations(destination: str, loras: list[str], fmt: ImageFormat) -> list[Path]:
    if len(loras) <= 1:
        return [Path(destination + fmt.extension())]
    return [Path(f"{destination}-{Path(lora).stem}{fmt.extension()}") for lora in loras]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modules.config.sample_config import SampleConfig
    from modules.tools import sampling
    from modules.tools.task import ToolError, ToolTask

    model_type = ModelType(args.model_type)
    key = sampling.BaseModel(model_type, args.base_model_name, DataType(args.weight_dtype),
                             tuple(args.embedding_name), args.device or sampling.default_device(),
                             args.text_encoder_layer_skip)
    sample = SampleConfig.for_model_type(model_type)
    sample.prompt, sample.negative_prompt = args.prompt, args.negative_prompt
    sample.height, sample.width, sample.seed, sample.random_seed = args.height, args.width, args.seed, False
    sample.sample_inpainting = args.sample_inpainting
    sample.base_image_path, sample.mask_image_path = args.base_image_path, args.mask_image_path
    if args.diffusion_steps:
        sample.diffusion_steps = args.diffusion_steps
    if args.cfg_scale is not None:
        sample.cfg_scale = args.cfg_scale
    if args.sampler:
        sample.noise_scheduler = NoiseScheduler(args.sampler)
    loras = args.lora_name or [sampling.NO_LORA]
    fmt = ImageFormat.JPG
    task = ToolTask(on_log=lambda text: print(text, file=sys.stderr, flush=True))
    cache = sampling.ModelCache()
    try:
        sampling.check_base(key)
        sampling.check_loras(loras)
        for lora, destination in zip(loras, destinations(args.destination, loras, fmt), strict=True):
            image, metadata = sampling.render_one(cache, key, lora, sample, task)
            sampling.save_image(image, metadata, destination, fmt)
            print(destination)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
