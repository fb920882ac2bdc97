"""Whether this install can train on this machine: the training extras (torch and the diffusers
stack) are installed. A light client without them runs the app and trains only on a remote machine
(cloud training); see docs/tab-cloud.md."""
from __future__ import annotations

import importlib.util

REQUIRED = ("torch", "diffusers", "transformers")
INSTALL = "pip install torch && pip install -e '.[train]'"
NO_LOCAL_TRAINING = ("this install has no local training; enable cloud training or install the training extras: "
                     + INSTALL)


class NoLocalTraining(RuntimeError):
    """A run that would train here, in an install without the training extras."""

    def __init__(self) -> None:
        super().__init__(NO_LOCAL_TRAINING)


def missing() -> list[str]:
    """The training packages this install lacks."""
    absent = []
    for name in REQUIRED:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked package counts as absent
            found = False
        if not found:
            absent.append(name)
    return absent


def available() -> bool:
    return not missing()


def trains_remotely(config) -> bool:
    """A config whose run happens on another machine (cloud training on)."""
    cloud = getattr(config, "cloud", None)
    return bool(getattr(cloud, "enabled", False)) and str(getattr(cloud, "type", "")) in ("LINUX", "RUNPOD")
