"""Every registered model type's tiny model (what `python -m modules.cli.tiny_model` writes: the family's
`build_tiny`) is a standard diffusers folder that `DiffusionPipeline.from_pretrained` loads as the
pipeline its index names, every component of the class the index names.

Two kinds of folder cannot be loaded that way with diffusers 0.42, and are checked the way diffusers
loads them instead:

* Anima exists in diffusers 0.42 only as a modular pipeline (`AnimaModularPipeline`, no
  `DiffusionPipeline` class), and its released folder, saved by diffusers' Anima converter through
  `ModularPipeline.save_pretrained`, holds `modular_model_index.json` and no `model_index.json`, the only
  index `DiffusionPipeline.from_pretrained` reads (`DiffusionPipeline.load_config`; given an index that
  names the modular class, `pipeline_utils.py` fails on `pipeline_class._get_signature_types()`). Our
  folder is the released one's layout and loads with `ModularPipeline.from_pretrained` + `load_components`.
* The released Würstchen and Stable Cascade decoder folders name the moved Würstchen classes under the
  library `wuerstchen`, which `pipeline_loading_utils._get_library_or_raise` no longer resolves
  (`diffusers.pipelines` has no `wuerstchen` since the pipeline moved to `pipelines.deprecated`). Ours name
  the classes' modules, which it resolves, and the family loader reads both.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch


def _registered_model_types() -> list[str]:
    from modules.families import supported_model_types

    return [t.value for t in supported_model_types()]


MODULAR_ONLY = {"ANIMA"}  # see the module docstring
NOT_LOADABLE_YET: dict[str, str] = {}  # model type -> why its tiny folder does not load yet


def _params():
    for model_type in _registered_model_types():
        if model_type in MODULAR_ONLY:
            continue
        reason = NOT_LOADABLE_YET.get(model_type)
        marks = [pytest.mark.xfail(reason=reason, strict=True, raises=ValueError)] if reason else []
        yield pytest.param(model_type, marks=marks, id=model_type)


@pytest.mark.parametrize("model_type", list(_params()))
def test_diffusion_pipeline_loads_the_tiny_folder(tiny_model, model_type):
    from diffusers import DiffusionPipeline

    path = Path(tiny_model(model_type))
    index = json.loads((path / "model_index.json").read_text())
    pipe = DiffusionPipeline.from_pretrained(str(path))
    assert type(pipe).__name__ == index["_class_name"]
    named = {name: spec[1] for name, spec in index.items()
             if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and spec[1] is not None}
    assert named
    assert {name: _class_name(getattr(pipe, name, None)) for name in named} == named


def _class_name(component) -> str:
    # without torchvision transformers builds an image processor's PIL backend (`DPTImageProcessorPil` for
    # an index naming `DPTImageProcessor`)
    name = type(component).__name__
    return name.removesuffix("Pil") if name.endswith("ImageProcessorPil") else name


def test_the_exceptions_name_registered_model_types():
    """Every registered model type is loaded above unless listed as an exception; an exception must name a
    registered model type (a renamed or removed one is flagged, not silently kept)."""
    assert MODULAR_ONLY | set(NOT_LOADABLE_YET) <= set(_registered_model_types())
    assert not MODULAR_ONLY & set(NOT_LOADABLE_YET)


def test_the_anima_folder_is_the_released_modular_layout_and_denoises(tiny_model):
    """No `model_index.json` (so `DiffusionPipeline.from_pretrained` has nothing to read), the modular
    pipeline's index, and the modular pipeline loads every component from the folder and denoises."""
    from diffusers import AnimaModularPipeline, DiffusionPipeline, ModularPipeline

    from modules.families.anima import cosmos

    path = Path(tiny_model("ANIMA"))
    assert not (path / "model_index.json").exists()
    index = json.loads((path / "modular_model_index.json").read_text())
    assert (index["_class_name"], index["_blocks_class_name"]) == ("AnimaModularPipeline", "AnimaAutoBlocks")
    with pytest.raises(OSError, match="model_index.json"):
        DiffusionPipeline.from_pretrained(str(path))

    cosmos.ensure_resize()
    pipe = ModularPipeline.from_pretrained(str(path))
    pipe.load_components(dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe, AnimaModularPipeline)
    components = {name: spec[1] for name, spec in index.items() if not name.startswith("_")}
    assert {name: type(getattr(pipe, name)).__name__ for name in components} == components

    def render(steps: int, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        latents = pipe(prompt="a red thing", num_inference_steps=steps, height=32, width=32, generator=generator,
                       max_sequence_length=16, output="latents")
        return latents.detach().float()

    one, two = render(1), render(2)
    assert one.shape == two.shape and torch.isfinite(two).all()
    assert not torch.equal(one, two)  # each step moves the latents
    image = np.asarray(pipe(prompt="a red thing", num_inference_steps=2, height=32, width=32,
                            generator=torch.Generator().manual_seed(0), max_sequence_length=16,
                            output="images")[0])
    assert image.shape[:2] == (32, 32)


def test_the_wuerstchen_and_cascade_folders_load_in_a_fresh_process(tiny_model):
    """The moved classes' modules are resolved from `sys.modules`: importing the pipeline class must be
    enough, with nothing of ours imported before (this process has imported them already)."""
    import subprocess
    import sys

    folders = [tiny_model("WUERSTCHEN_2"), tiny_model("STABLE_CASCADE_1")]
    script = ("import sys\nfrom diffusers import DiffusionPipeline\n"
              "for folder in sys.argv[1:]:\n    print(type(DiffusionPipeline.from_pretrained(folder).vqgan).__name__)")
    done = subprocess.run([sys.executable, "-c", script, *folders], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["PaellaVQModel", "PaellaVQModel"]


@pytest.mark.parametrize("model_type", ["WUERSTCHEN_2", "STABLE_CASCADE_1"])
def test_a_folder_in_the_released_index_convention_still_loads_with_the_family(tiny_model, tmp_path, model_type):
    """The released folders name the moved classes under `wuerstchen`: diffusers 0.42 refuses that
    library, the family loader reads the folder all the same."""
    from diffusers import DiffusionPipeline

    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.parts import stage_c

    released = tmp_path / "released"
    shutil.copytree(tiny_model(model_type), released)
    index_file = released / "model_index.json"
    index = json.loads(index_file.read_text())
    moved = {name for name, spec in index.items() if isinstance(spec, list) and spec[1] in stage_c.MOVED_CLASSES}
    assert moved and all(index[name][0].startswith("diffusers.pipelines.deprecated.wuerstchen.") for name in moved)
    index_file.write_text(json.dumps({k: ["wuerstchen", v[1]] if k in moved else v for k, v in index.items()}))
    with pytest.raises(ValueError, match="wuerstchen"):
        DiffusionPipeline.from_pretrained(str(released))

    family = family_for(model_type)
    model = family.load(str(released), TrainConfig.default_values())
    family.load_decoder(model)
    assert type(model["decoder_vqgan"]).__name__ == "PaellaVQModel"
    assert type(model["prior"]).__name__ == index["prior_prior"][1]


def test_saved_folders_name_image_processors_as_published(tmp_path):
    """A processor built on its PIL backend is recorded under the published class name, which older
    transformers (and the pipelines' signatures) know."""
    from transformers import CLIPImageProcessor

    from modules.families.parts.diffusers_io import save_folder

    processor = CLIPImageProcessor()
    save_folder({"feature_extractor": processor}, tmp_path, "StableDiffusionPipeline")
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    assert type(CLIPImageProcessor.from_pretrained(tmp_path / "feature_extractor")).__name__.startswith(
        "CLIPImageProcessor")
