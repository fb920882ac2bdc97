"""What the live-training tests (UI and browser) share: tiny data, tiny runs, waiting."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from modules.train.events import ScalarEvent
from modules.train.progress import TrainProgress


def build_model(folder: Path) -> Path:
    from modules.config.enums import ModelType
    from modules.families.sd.tiny import build_tiny_sd

    return build_tiny_sd(ModelType.STABLE_DIFFUSION_15, folder)


def build_concept(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f'{i}.png')
        (folder / f'{i}.txt').write_text('a photo of sks')
    return folder


def write_run(folder: Path, steps: range, tags=('loss/train_step', 'lr/unet')) -> None:
    """An event-file run with simple known values: tag i at step s is (s + 1) * (i + 1) / 2."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        for step in steps:
            for i, tag in enumerate(tags):
                writer.add_scalar(tag, (step + 1) * (i + 1) * 0.5, step)


async def until(predicate, timeout: float = 240.0, what: str = 'condition') -> None:
    """Wait (letting the app's loop run) until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        await asyncio.sleep(0.1)


def tiny_run(config, data_dir: Path, model: Path, concept: Path, *, epochs: int = 2,
             sample_every: int = 0) -> None:
    """Point the live config at the tiny model and concept: CPU, 32 px, a few steps."""
    from modules.config.enums import ModelType, TimeUnit, TrainingMethod

    config.model_type = ModelType.STABLE_DIFFUSION_15
    config.training_method = TrainingMethod.LORA
    config.output_model_format = config.supported_output_formats()[0]
    config.base_model_name = str(model)
    config.train_device = 'cpu'
    config.temp_device = 'cpu'
    config.resolution = '32'
    config.batch_size = 1
    config.epochs = epochs
    config.lora_rank = 4
    config.tensorboard = False
    config.workspace_dir = 'workspace/run'
    config.cache_dir = 'workspace-cache/run'
    config.output_model_destination = 'models/out.safetensors'
    config.backup_after_unit = TimeUnit.NEVER
    config.save_every_unit = TimeUnit.NEVER
    config.sample_after = sample_every or 1
    config.sample_after_unit = TimeUnit.STEP if sample_every else TimeUnit.NEVER
    concepts = data_dir / 'training_concepts' / 'concepts.json'
    concepts.parent.mkdir(parents=True, exist_ok=True)
    concepts.write_text(json.dumps([{'name': 'c', 'path': str(concept), 'enabled': True}]))
    config.concept_file_name = 'training_concepts/concepts.json'
    samples = data_dir / 'training_samples' / 'samples.json'
    samples.parent.mkdir(parents=True, exist_ok=True)
    samples.write_text(json.dumps([{'prompt': 'a photo of sks', 'width': 32, 'height': 32, 'diffusion_steps': 2,
                                    'seed': 1}]))
    config.sample_definition_file_name = 'training_samples/samples.json'


def page_messages(user) -> list[tuple[str, dict]]:
    """Every message of the user's page from now on (its own, not the live feed's), as (type, payload)."""
    outbox = user.client.outbox
    original = outbox._emit
    sent: list[tuple[str, dict]] = []

    async def emit(message) -> None:
        sent.append((message[1], message[2]))
        await original(message)

    outbox._emit = emit
    return sent


def mentions(messages: list[tuple[str, dict]], item) -> bool:
    """Whether the page was sent `item` (an element) whole."""
    return any(kind == 'update' and str(item.id) in {str(key) for key in payload} for kind, payload in messages)


class FakeTrainer:
    """Calls back like the real trainer: progress after each step, every logged value as a scalar event."""

    steps = 1000
    fail_in: str | None = None
    gate: threading.Event | None = None

    def __init__(self, config, callbacks, commands):
        self.config, self.callbacks, self.commands = config, callbacks, commands
        self.ended = False
        if self.fail_in == 'init':
            raise OSError('no such model')

    def start(self):
        self.callbacks.on_update_status('loading the model')

    def train(self):
        progress = TrainProgress()
        for _ in range(self.steps):
            if self.gate is not None:
                self.gate.wait(10)
            if self.commands.get_stop_command():
                return
            self.callbacks.on_scalar(ScalarEvent('loss/train_step', progress.global_step, 0.5))
            progress.next_step(1)
            self.callbacks.on_update_train_progress(progress, self.steps, 1)
        if self.fail_in == 'train':
            raise ValueError('loss is nan')

    def end(self):
        self.ended = True
