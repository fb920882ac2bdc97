"""The family-free training engine: trainer lifecycle, events in and out, progress.

A trainer is created through `modules.engine.create_trainer`, which looks up the model family."""
from .callbacks import SampleOutput, TrainCallbacks
from .commands import TrainCommands
from .events import ProgressEvent, SampleEvent, SampleProgressEvent, ScalarEvent, StatusEvent
from .progress import TrainProgress

__all__ = ["ProgressEvent", "SampleEvent", "SampleProgressEvent", "ScalarEvent", "StatusEvent", "SampleOutput", "TrainCallbacks", "TrainCommands", "TrainProgress"]
