"""The family seam: facts load without torch, families and the trainer (and its data) never import each
other, and a new family is one package plus one registry line."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.helpers import run_training

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(("package", "forbidden"), [("modules/families", "modules.train"),
                                                    ("modules/train", "modules.families"),
                                                    ("modules/data", "modules.families"),
                                                    ("modules/formats", "modules.families"),
                                                    ("modules/objectives", "modules.families"),
                                                    ("modules/objectives", "modules.train")])
def test_layers_do_not_import_each_other(package, forbidden):
    offending = sorted(n for n in _imports(ROOT / package) if n == forbidden or n.startswith(forbidden + "."))
    assert not offending, f"{package} imports {offending}"


def test_facts_load_without_torch():
    code = textwrap.dedent("""
        import sys
        from modules.families import all_facts, facts_for
        facts = facts_for("STABLE_DIFFUSION_XL_10_BASE")
        assert facts.text_encoder_parts == ("text_encoder", "text_encoder_2"), facts.text_encoder_parts
        from modules.config.enums import ModelType
        assert facts_for("NO_SUCH_MODEL_TYPE") is None  # only model types have facts
        assert all(facts_for(t) is None or t.value in facts_for(t).model_types for t in ModelType)
        assert len(all_facts()) >= 2
        assert "torch" not in sys.modules, "facts pulled in torch"
    """)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_model_type_of_a_family_has_a_pipeline_and_a_keymap():
    from modules.families import all_facts, family_for

    for facts in all_facts():
        for model_type in facts.model_types:
            assert facts.pipeline(model_type)
            assert "full" in {preset.name for preset in facts.layer_presets(model_type)}
            assert model_type in family_for(model_type).keymap.model_types


VARIANT_FILES = {
    "__init__.py": '"""A variant family used by the registry test."""\n',
    "facts.py": textwrap.dedent('''
        from dataclasses import replace

        from modules.families.sd.facts import FACTS as SD

        FACTS = replace(SD, name="SD variant", package="variant", model_types=("PIXART_ALPHA",),
                        pipelines={"PIXART_ALPHA": "StableDiffusionPipeline"})
    '''),
    "family.py": textwrap.dedent('''
        from modules.families.sd.family import StableDiffusionFamily

        from .facts import FACTS


        class VariantFamily(StableDiffusionFamily):
            facts = FACTS


        FAMILY = VariantFamily
    '''),
    "keymap.py": textwrap.dedent('''
        from dataclasses import replace

        from modules.families.sd.keymap import SD1

        KEYMAPS = (replace(SD1, name="variant", model_types=frozenset({"PIXART_ALPHA"}),
                           pipelines={"PIXART_ALPHA": "StableDiffusionPipeline"}),)
    '''),
}


def test_a_new_family_is_one_package_and_one_registry_line(tmp_path, monkeypatch, make_config, tiny_model):
    import modules.families
    from modules.engine import check
    from modules.families import registry

    # the variant claims PixArt α, whose own package is left out of the registry for this test
    unclaimed = "PIXART_ALPHA"
    package = tmp_path / "variant"
    package.mkdir()
    for name, text in VARIANT_FILES.items():
        (package / name).write_text(text)
    monkeypatch.setattr(modules.families, "__path__", [*modules.families.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "PACKAGES", (*(p for p in registry.PACKAGES if p != "pixart"), "variant"))
    registry._facts_by_model_type.cache_clear()
    try:
        cfg = make_config("STABLE_DIFFUSION_15", epochs=1)
        cfg.model_type = type(cfg.model_type)(unclaimed)
        cfg.base_model_name = tiny_model("STABLE_DIFFUSION_15")
        assert not [p for p in check(cfg) if p.severity == "error"]
        trainer = run_training(cfg)
        assert type(trainer.family).__name__ == "VariantFamily"
        assert trainer.loss_history and Path(cfg.output_model_destination).is_file()
    finally:
        registry._facts_by_model_type.cache_clear()
