"""Render one image from a model, as OneTrainer's scripts/sample.py.

    python -m modules.cli.sample --model-type STABLE_DIFFUSION_15 --base-model-name PATH
        --prompt TEXT --destination OUT [--negative-prompt TEXT] [--height 512] [--width 512]
        [--weight-dtype FLOAT_32] [--embedding-name FILE] [--text-encoder-layer-skip 0]
        [--sample-inpainting --base-image-path IMG --mask-image-path MASK]

Seed 42, JPG output (the extension is added to the destination).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules.config.enums import DataType, ImageFormat, ModelType, TrainingMethod


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.sample", description="Sample one image.")
    parser.add_argument("--model-type", required=True, choices=ModelType.names())
    parser.add_argument("--weight-dtype", default="FLOAT_32", choices=DataType.names())
    parser.add_argument("--base-model-name", required=True)
    parser.add_argument("--embedding-name", default="")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--destination", required=True)
    parser.add_argument("--text-encoder-layer-skip", type=int, default=0)
    parser.add_argument("--sample-inpainting", action="store_true")
    parser.add_argument("--base-image-path", default="")
    parser.add_argument("--mask-image-path", default="")
    parser.add_argument("--diffusion-steps", type=int, default=None, help="default: the model type's default")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modules.config.sample_config import SampleConfig
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.train.methods import MethodSetup

    model_type = ModelType(args.model_type)
    config = TrainConfig.default_values()
    config.model_type, config.training_method = model_type, TrainingMethod.FINE_TUNE
    config.base_model_name = args.base_model_name
    for part in model_type.model_parts():
        getattr(config, part).weight_dtype = DataType(args.weight_dtype)
    config.text_encoder_layer_skip = args.text_encoder_layer_skip
    if args.embedding_name:
        config.additional_embeddings = [config.embedding.copy()]
        config.additional_embeddings[0].model_name = args.embedding_name
        config.additional_embeddings[0].train = False

    family = family_for(model_type)
    model = family.load(args.base_model_name, config)
    if args.embedding_name:
        setup = MethodSetup(family, model, config)
        setup._load_embeddings()
    sample = SampleConfig.for_model_type(model_type)
    sample.prompt, sample.negative_prompt = args.prompt, args.negative_prompt
    sample.height, sample.width, sample.seed = args.height, args.width, 42
    sample.text_encoder_1_layer_skip = args.text_encoder_layer_skip
    sample.sample_inpainting = args.sample_inpainting
    sample.base_image_path, sample.mask_image_path = args.base_image_path, args.mask_image_path
    if args.diffusion_steps:
        sample.diffusion_steps = args.diffusion_steps
    image = family.sample(model, sample)
    fmt = ImageFormat.JPG
    destination = Path(args.destination + fmt.extension())
    destination.parent.mkdir(parents=True, exist_ok=True)
    image.save(destination, format=fmt.pil_format())
    print(destination)
    return 0


if __name__ == "__main__":
    sys.exit(main())
