"""The training engine: trainer lifecycle, events in and out, progress."""
from .callbacks import SampleOutput, TrainCallbacks
from .commands import TrainCommands
from .events import ProgressEvent, SampleEvent, SampleProgressEvent, ScalarEvent, StatusEvent
from .progress import TrainProgress


def create_trainer(config, callbacks=None, commands=None):
    from .trainer import create_trainer as _create

    return _create(config, callbacks, commands)


__all__ = ["ProgressEvent", "SampleEvent", "SampleProgressEvent", "ScalarEvent", "StatusEvent", "SampleOutput", "TrainCallbacks", "TrainCommands", "TrainProgress", "create_trainer"]
