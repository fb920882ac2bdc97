"""Exponential moving average of the trainable parameters (spec §7.12)."""
from __future__ import annotations

from contextlib import contextmanager

import torch


class EMA:
    def __init__(self, parameters: list[torch.nn.Parameter], decay: float, update_step_interval: int,
                 device: str | torch.device = "cpu"):
        self.parameters = list(parameters)
        self.max_decay = decay
        self.interval = max(1, int(update_step_interval))
        self.device = torch.device(device)
        self.shadow = [p.detach().to(self.device, copy=True) for p in self.parameters]
        self.decay = 0.0

    def current_decay(self, n: int) -> float:
        return min((1 + n) / (10 + n), self.max_decay)

    @torch.no_grad()
    def step(self, n: int) -> None:
        """n = number of optimizer steps taken so far."""
        self.decay = self.current_decay(n)
        if (n + 1) % self.interval != 0:
            return
        for shadow, p in zip(self.shadow, self.parameters, strict=True):
            if p.requires_grad:
                shadow.add_((1 - self.decay) * (p.detach().to(shadow.device) - shadow))

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for shadow, p in zip(self.shadow, self.parameters, strict=True):
            p.copy_(shadow.to(p.device, p.dtype))

    @contextmanager
    def swapped_in(self):
        """Temporarily run the model with the averaged weights."""
        saved = [p.detach().clone() for p in self.parameters]
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.parameters, saved, strict=True):
                    p.copy_(s)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "ema_parameters": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state.get("decay", 0.0))
        loaded = state["ema_parameters"]
        if len(loaded) != len(self.shadow):
            raise ValueError("EMA state does not match the trainable parameters")
        self.shadow = [t.to(self.device, s.dtype) for t, s in zip(loaded, self.shadow, strict=True)]
