"""Mask every image of a folder, as OneTrainer's scripts/generate_masks.py.

    python -m modules.cli.mask --model CLIPSEG --sample-dir DIR --add-prompt TEXT [--add-prompt TEXT ...]
        [--mode fill|replace|add|subtract|blend] [--threshold 0.3] [--smooth-pixels 5]
        [--expand-pixels 10] [--alpha 1.0] [--include-subdirectories] [--device cuda] [--dtype FLOAT_32]
        [--model-name FOLDER_FILE_OR_HUB_NAME]
"""
from __future__ import annotations

import argparse
import sys

from modules.tools.masking import MODELS, MODES, MaskRequest, generate_masks
from modules.tools.pretrained import DTYPES
from modules.tools.task import ToolError, ToolTask


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m modules.cli.mask', description='Mask a folder of images.')
    parser.add_argument('--model', required=True, choices=list(MODELS))
    parser.add_argument('--sample-dir', required=True, help='the folder of images')
    parser.add_argument('--add-prompt', action='append', default=[], dest='prompts',
                        help='what to mask (repeatable); for COLOR a colour such as #FF0000')
    parser.add_argument('--mode', default='fill', choices=list(MODES),
                        help='replace, fill (only images without a mask), add, subtract, blend')
    parser.add_argument('--threshold', type=float, default=0.3, help='0..1; for COLOR the colour tolerance')
    parser.add_argument('--smooth-pixels', type=int, default=5)
    parser.add_argument('--expand-pixels', type=int, default=10)
    parser.add_argument('--alpha', type=float, default=1.0, help='weight of the new mask for add/subtract/blend')
    parser.add_argument('--device', default='', help='default: the GPU when there is one')
    parser.add_argument('--dtype', default='FLOAT_32', choices=DTYPES)
    parser.add_argument('--include-subdirectories', action='store_true')
    parser.add_argument('--model-name', default='',
                        help="a local folder (an ONNX file for Rembg) or hub name; default: the model's usual")
    parser.add_argument('--batch-size', type=int, default=8)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    request = MaskRequest(
        model=args.model, folder=args.sample_dir, prompts=args.prompts, model_name=args.model_name, mode=args.mode,
        threshold=args.threshold, smooth_pixels=args.smooth_pixels, expand_pixels=args.expand_pixels,
        alpha=args.alpha, include_subdirectories=args.include_subdirectories, device=args.device,
        dtype=args.dtype, batch_size=args.batch_size)
    try:
        written = generate_masks(ToolTask(), request)
    except ToolError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'{written} masks written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
