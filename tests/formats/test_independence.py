"""The formats package takes key maps as arguments and never reaches into the model families."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import modules.formats

FORMATS_DIR = Path(modules.formats.__file__).parent
ROOT = FORMATS_DIR.parents[1]


def _formats_modules() -> list[str]:
    return sorted("modules.formats" + ("" if p.stem == "__init__" else f".{p.stem}")
                  for p in FORMATS_DIR.glob("*.py"))


def test_importing_every_formats_module_loads_no_family():
    script = (
        "import importlib, json, sys\n"
        f"for name in {_formats_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'modules.families' or m.startswith('modules.families.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_no_formats_source_imports_a_family():
    """Also imports inside functions, which importing the modules does not run."""
    offenders = []
    for path in sorted(FORMATS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.module == "modules":
                    names += [f"modules.{alias.name}" for alias in node.names]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names
                          if n == "modules.families" or n.startswith("modules.families.")]
    assert offenders == []


def test_there_is_no_keymap_registry_in_formats():
    assert not (FORMATS_DIR / "keymaps").exists()
    assert not hasattr(modules.formats, "keymap_for")
