"""Batch captioning speed: our loop against calling the model directly (not a test).

The same tiny random BLIP captions the same generated images three ways, in one process:
- ours: `generate_captions` (folder scan, checks, image loading, batches of --batch-size, atomic writes);
- direct, batched: processor + `generate` on the same batches in a plain loop, nothing written;
- direct, one by one: the same, one image per call.

    .venv/bin/python bench/captioning_speed.py [--images 64] [--batch-size 8] [--tokens 20] [--repeat 3]
Prints images/s of each (best of --repeat), ours ÷ direct batched (the loop's overhead; goal ≥ 0.9)
and ours ÷ direct one by one (what batching gains).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best_rates(runs: dict, images: int, repeat: int) -> dict[str, float]:
    """Images/s of each run, best of `repeat` rounds; the runs take turns so load drift hits all alike."""
    best = dict.fromkeys(runs, float('inf'))
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: images / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--images', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--tokens', type=int, default=20)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()

    import torch
    from PIL import Image
    from transformers import AutoProcessor, BlipForConditionalGeneration

    from modules.tools.captioning import CaptionRequest, TransformersCaptioner, generate_captions
    from modules.tools.task import ToolTask
    from tests.tools import tiny_models

    work = Path(tempfile.mkdtemp(prefix='captioning-bench-'))
    model_dir = tiny_models.blip(work / 'blip')
    folder = work / 'images'
    folder.mkdir()
    for i in range(args.images):
        Image.new('RGB', (64, 48), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(folder / f'{i:04}.png')
    paths = sorted(folder.glob('*.png'))

    request = CaptionRequest('BLIP', str(folder), model_name=str(model_dir), mode='replace', device='cpu',
                             batch_size=args.batch_size, max_new_tokens=args.tokens)
    captioner = TransformersCaptioner('BLIP', str(model_dir), request)
    quiet = ToolTask(on_log=lambda text: None)

    processor = AutoProcessor.from_pretrained(model_dir)
    model = BlipForConditionalGeneration.from_pretrained(model_dir).eval()

    def direct(batch_size: int) -> None:
        for i in range(0, len(paths), batch_size):
            images = [Image.open(p).convert('RGB') for p in paths[i:i + batch_size]]
            inputs = processor(images=images, return_tensors='pt')
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False)
            processor.batch_decode(output, skip_special_tokens=True)

    rates = best_rates({'ours': lambda: generate_captions(quiet, request, captioner),
                        'batched': lambda: direct(args.batch_size), 'single': lambda: direct(1)},
                       args.images, args.repeat)
    ours, batched, single = rates['ours'], rates['batched'], rates['single']
    print(f'images: {args.images}, batch size {args.batch_size}, {args.tokens} new tokens, torch threads '
          f'{torch.get_num_threads()}')
    print(f'ours:                {ours:8.1f} images/s')
    print(f'direct, batched:     {batched:8.1f} images/s')
    print(f'direct, one by one:  {single:8.1f} images/s')
    print(f'ours / direct batched:    {ours / batched:.2f}  (goal >= 0.9)')
    print(f'ours / direct one by one: {ours / single:.2f}')


if __name__ == '__main__':
    main()
