"""NoiseScheduler (sampling) enum → a diffusers scheduler built from the model's scheduler config."""
from __future__ import annotations

from modules.config.enums import NoiseScheduler

# name → (diffusers class, extra config); the SDE variant is DPM-Solver++ in its SDE form (no torchsde needed)
_MAP = {
    "DDIM": ("DDIMScheduler", {}),
    "EULER": ("EulerDiscreteScheduler", {}),
    "EULER_A": ("EulerAncestralDiscreteScheduler", {}),
    "DPMPP": ("DPMSolverMultistepScheduler", {}),
    "DPMPP_SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "UNIPC": ("UniPCMultistepScheduler", {}),
    "EULER_KARRAS": ("EulerDiscreteScheduler", {"use_karras_sigmas": True}),
    "DPMPP_KARRAS": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPMPP_SDE_KARRAS": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++",
                                                         "use_karras_sigmas": True}),
    "UNIPC_KARRAS": ("UniPCMultistepScheduler", {"use_karras_sigmas": True}),
}


def create_sample_scheduler(kind, base_config: dict, **overrides):
    import diffusers

    cls_name, extra = _MAP[NoiseScheduler(kind).value]
    config = {k: v for k, v in dict(base_config).items() if not k.startswith("_")}
    config.update(extra)
    config.update(overrides)
    return getattr(diffusers, cls_name).from_config(config)
