"""The one way in to training: check a config, then create its trainer.

`check` answers before anything heavy loads (the UI calls it at Start, the CLI before training):
config validation, whether the model type can train here, and every setting that would be
silently ignored. `create_trainer` looks the family up and hands it to the family-free trainer.
"""
from __future__ import annotations

from enum import Enum

from modules import training_extras
from modules.config.validation import Problem, enum_label, validate


def family_problems(config) -> list[Problem]:
    """What the model type's family says about this config: can it train it, with this method and format."""
    from modules.families import facts_for, family_for
    from modules.families.parts.quantization import quantization_problems
    from modules.settings_usage import setting_warnings

    facts = facts_for(config.model_type)
    if facts is None:
        return [Problem("model_type", f"{enum_label(config.model_type)} cannot be trained yet")]
    problems = []
    method = str(config.training_method)
    if method not in facts.methods:
        problems.append(Problem("training_method", f"{enum_label(config.training_method)} is not available for "
                                                   f"{enum_label(config.model_type)} yet"))
    elif str(config.output_model_format) not in facts.formats.get(method, ()):
        problems.append(Problem("output_model_format", f"{enum_label(config.output_model_format)} cannot be written "
                                                       f"for {enum_label(config.model_type)} yet"))
    for encoder in facts.text_encoders:
        if not encoder.optional and not getattr(config, encoder.part).include:
            problems.append(Problem(f"{encoder.part}.include", f"{enum_label(config.model_type)} cannot train without "
                                                               "this text encoder"))
    problems += quantization_problems(config, facts)  # a quantized part that cannot run here
    # what the family accepts but handles its own way (its behaviour needs the training extras)
    if training_extras.available():
        problems += [Problem(path, message, "warning")
                     for path, message in family_for(config.model_type).warnings(config)]
    refused = {p.path for p in problems}
    return problems + [w for w in setting_warnings(config, facts) if w.path not in refused]


def check(config, *, paths: bool = True, base_dir: str | None = None) -> list[Problem]:
    """Every problem (errors refuse a start) and warning of `config`, most important first."""
    problems = validate(config, paths=paths, base_dir=base_dir)
    if training_extras.trains_remotely(config):
        from modules.cloud.paths import remote_only_fields

        remote = remote_only_fields(config)  # checked by the remote run, which reads them
        problems = [p for p in problems if p.path not in remote]
    if not training_extras.trains_remotely(config) and not training_extras.available():
        problems.append(Problem("cloud.enabled", training_extras.NO_LOCAL_TRAINING))
    if isinstance(config.model_type, Enum) and isinstance(config.training_method, Enum):
        reported = {p.path for p in problems if p.severity == "error"}  # one message per setting
        problems += [p for p in family_problems(config) if p.path not in reported]
    if training_extras.available():  # a light client's run trains elsewhere, with the libraries there
        problems += optimizer_problems(config)
    problems += multi_process_problems(config)
    return problems


def multi_process_problems(config) -> list[Problem]:
    """Devices a multi-process run cannot have."""
    if not getattr(config, "multi_gpu", False) or training_extras.trains_remotely(config):
        return []
    import torch

    from modules.train.distributed import device_indexes

    try:
        indexes = device_indexes(config)
    except ValueError as exc:
        return [Problem("device_indexes", str(exc))]
    if str(config.train_device or "cpu").startswith("cuda"):
        missing = [i for i in indexes if i >= torch.cuda.device_count()]
        if missing:
            return [Problem("device_indexes", f"no GPU {', '.join(map(str, missing))} on this machine "
                                              f"({torch.cuda.device_count()} found)")]
    if len(indexes) < 2:
        return [Problem("multi_gpu", "one device: the run trains in a single process", "warning")]
    return []


def optimizer_problems(config) -> list[Problem]:
    """An optimizer that cannot be built here (no library provides it, or its package is missing)."""
    from modules.optim.recipes import optimizer_problem

    chosen = getattr(config.optimizer, "optimizer", None)
    why = optimizer_problem(chosen) if isinstance(chosen, Enum) else None
    return [Problem("optimizer.optimizer", why)] if why else []


def create_trainer(config, callbacks=None, commands=None, *, reattach: bool = False):
    """The trainer of `config`, with its model family (raises UnsupportedModelType when there is none).
    `reattach`: follow the cloud run of `config.cloud.run_id` that is already going instead of starting one."""
    from modules.families import family_for

    cloud = getattr(config, "cloud", None)
    if getattr(cloud, "enabled", False) and str(cloud.type) == "RUNPOD":
        from modules.cloud.pod_trainer import RunPodTrainer  # a RunPod pod, then the SSH run on it

        return RunPodTrainer(config, callbacks, commands, reattach=reattach)
    if getattr(cloud, "enabled", False) and str(cloud.type) == "LINUX":
        from modules.cloud.trainer import CloudTrainer  # trains on the remote machine: no family here

        return CloudTrainer(config, callbacks, commands, reattach=reattach)
    if reattach:
        raise ValueError("only a cloud run (Cloud tab: enabled, type LINUX or RUNPOD) can be reattached to")
    if not training_extras.available():
        raise training_extras.NoLocalTraining()
    family = family_for(config.model_type)
    if getattr(cloud, "enabled", False):
        import logging

        logging.getLogger(__name__).warning("cloud training is not available; training in this process")
    processes = multi_process_count(config)
    if processes > 1:
        from modules.train.multi_process import MultiProcessTrainer

        return MultiProcessTrainer(config, family, callbacks, commands, processes=processes)
    from modules.train.trainer import GenericTrainer

    return GenericTrainer(config, family, callbacks, commands)


def multi_process_count(config) -> int:
    """How many processes `config` trains on when this process starts them: one per entry of
    `device_indexes` (or visible GPU) with `multi_gpu` on, unless this process already is one rank
    of a run that torchrun (or another launcher) started."""
    from modules.train.distributed import current_world, device_indexes, launched_world

    if not getattr(config, "multi_gpu", False) or current_world().active or launched_world() is not None:
        return 1
    return max(1, len(device_indexes(config)))
