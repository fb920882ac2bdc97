"""Write default training files, as OneTrainer's scripts/create_train_files.py.

    python -m modules.cli.create_train_files [--config-output-destination PATH]
        [--concepts-output-destination PATH] [--samples-output-destination PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modules.config.concept_config import ConceptConfig
from modules.config.files import atomic_write_text
from modules.config.sample_config import SampleConfig
from modules.config.train_config import TrainConfig


def _write(path: str, data) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.create_train_files",
                                     description="Write a default config, concept list and sample list.")
    parser.add_argument("--config-output-destination")
    parser.add_argument("--concepts-output-destination")
    parser.add_argument("--samples-output-destination")
    args = parser.parse_args(argv)
    if args.config_output_destination:
        _write(args.config_output_destination, TrainConfig.default_values().to_dict())
    if args.concepts_output_destination:
        _write(args.concepts_output_destination, [ConceptConfig.default_values().to_dict()])
    if args.samples_output_destination:
        _write(args.samples_output_destination, [SampleConfig.default_values().to_dict()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
