"""Write a random tiny model of a model type as a normal diffusers folder (for tests and demos).

    python -m modules.cli.tiny_model --model-type STABLE_DIFFUSION_15 --out DIR [--seed 0]
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from modules.families import family_for, supported_model_types

    names = [t.value for t in supported_model_types()]
    parser = argparse.ArgumentParser(prog="python -m modules.cli.tiny_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-type", required=True, choices=names)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = family_for(args.model_type).build_tiny(args.out, args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
