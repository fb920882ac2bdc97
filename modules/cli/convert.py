"""Convert a model, LoRA or embedding to another format, as OneTrainer's scripts/convert_model.py.

    python -m modules.cli.convert --model-type STABLE_DIFFUSION_15 --input-name PATH
        --output-model-format ORIGINAL_SINGLE_FILE --output-model-destination OUT.safetensors
        [--training-method FINE_TUNE|LORA|EMBEDDING] [--output-dtype FLOAT_16]
        [--base-model-name PATH] [--huggingface-token TOKEN]
"""
from __future__ import annotations

import argparse
import os
import sys

from modules.config.enums import DataType, ModelFormat, ModelType, TrainingMethod


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.convert",
                                     description="Convert a model, LoRA or embedding to another format.")
    parser.add_argument("--model-type", required=True, choices=ModelType.names())
    parser.add_argument("--training-method", default="FINE_TUNE", choices=TrainingMethod.names(),
                        help="FINE_TUNE: a base model; LORA or EMBEDDING: a file of that kind")
    parser.add_argument("--input-name", required=True, help="model folder, checkpoint file or hub name")
    parser.add_argument("--base-model-name", default="",
                        help="the base model of a LoRA or embedding (its key layout follows the base), or "
                             "the model whose other parts go with a transformer-only input file")
    parser.add_argument("--huggingface-token", default="", help="for gated hub models")
    parser.add_argument("--output-dtype", default="FLOAT_16", choices=DataType.names())
    parser.add_argument("--output-model-format", required=True, choices=ModelFormat.names())
    parser.add_argument("--output-model-destination", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modules.tools.convert import ConvertRequest, convert
    from modules.tools.task import ToolError, ToolTask

    if args.huggingface_token:
        os.environ["HF_TOKEN"] = args.huggingface_token
    request = ConvertRequest(
        model_type=ModelType(args.model_type), training_method=TrainingMethod(args.training_method),
        input_name=args.input_name, base_model_name=args.base_model_name,
        output_dtype=DataType(args.output_dtype), output_model_format=ModelFormat(args.output_model_format),
        output_model_destination=args.output_model_destination)
    try:
        convert(ToolTask(), request)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
