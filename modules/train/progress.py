"""Where a run stands: epoch, step inside the epoch, samples inside the epoch, global micro-step."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainProgress:
    epoch: int = 0
    epoch_step: int = 0
    epoch_sample: int = 0
    global_step: int = 0

    def next_step(self, batch_size: int) -> None:
        self.epoch_step += 1
        self.epoch_sample += batch_size
        self.global_step += 1

    def next_epoch(self) -> None:
        self.epoch += 1
        self.epoch_step = 0
        self.epoch_sample = 0

    def filename_string(self) -> str:
        return f"{self.global_step}-{self.epoch}-{self.epoch_step}"

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainProgress:
        return cls(**{k: int(data.get(k, 0)) for k in ("epoch", "epoch_step", "epoch_sample", "global_step")})
