"""Caption every image of a folder, as OneTrainer's scripts/generate_captions.py.

    python -m modules.cli.caption --model BLIP --sample-dir DIR [--mode fill|replace|add]
        [--initial-caption TEXT] [--caption-prefix TEXT] [--caption-postfix TEXT]
        [--include-subdirectories] [--device cuda] [--dtype FLOAT_16] [--model-name FOLDER_OR_HUB_NAME]
"""
from __future__ import annotations

import argparse
import sys

from modules.tools.captioning import MODELS, MODES, CaptionRequest, generate_captions
from modules.tools.pretrained import DTYPES
from modules.tools.task import ToolError, ToolTask


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m modules.cli.caption', description='Caption a folder of images.')
    parser.add_argument('--model', required=True, choices=list(MODELS))
    parser.add_argument('--sample-dir', required=True, help='the folder of images')
    parser.add_argument('--initial-caption', default='', help='the start every caption continues (BLIP, BLIP2)')
    parser.add_argument('--caption-prefix', default='')
    parser.add_argument('--caption-postfix', default='')
    parser.add_argument('--mode', default='fill', choices=list(MODES),
                        help='replace: every caption; fill: only images without one; add: as a new line')
    parser.add_argument('--device', default='', help='default: the GPU when there is one')
    parser.add_argument('--dtype', default='FLOAT_16', choices=DTYPES, help='on the CPU always FLOAT_32')
    parser.add_argument('--include-subdirectories', action='store_true')
    parser.add_argument('--model-name', default='', help="a local folder or hub name; default: the model's usual")
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--general-threshold', type=float, default=0.35, help='WD14: general tags above this')
    parser.add_argument('--character-threshold', type=float, default=0.85, help='WD14: character tags above this')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    request = CaptionRequest(
        model=args.model, folder=args.sample_dir, model_name=args.model_name, initial_caption=args.initial_caption,
        prefix=args.caption_prefix, postfix=args.caption_postfix, mode=args.mode,
        include_subdirectories=args.include_subdirectories, device=args.device, dtype=args.dtype,
        batch_size=args.batch_size, general_threshold=args.general_threshold,
        character_threshold=args.character_threshold)
    try:
        written = generate_captions(ToolTask(), request)
    except ToolError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'{written} captions written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
