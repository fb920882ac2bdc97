"""A light client's processes: an import hook that hides every package the base install and the
cloud extra do not bring (torch, diffusers, transformers ...), as if they were not installed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import PROJECT

BLOCKER = '''"""Makes the packages a light client does not install look absent."""
import sys


class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
'''


def light_install(extras=("cloud",)) -> set[str]:
    """The distributions `pip install -e '.[cloud]'` brings: the base dependencies of pyproject.toml,
    the cloud extra, and what they require (with the extras they ask for), recursively."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(line) for line in project["dependencies"]]
    todo += [Requirement(line) for extra in extras for line in project["optional-dependencies"][extra]]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in map(Requirement, requires):
            if line.marker is None or any(line.marker.evaluate({"extra": e}) for e in (*requirement.extras, "")):
                todo.append(line)
    return {name for name, _ in seen}


def absent_modules() -> set[str]:
    """The top-level modules installed here that a light client would not have (torch among them)."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    light = light_install()
    return {module for module, dists in metadata.packages_distributions().items()
            if module.isidentifier() and not module.startswith("_") and module not in ("modules", "ot_nicegui")
            and module not in ("pip", "setuptools", "pkg_resources")
            and not any(canonicalize_name(d) in light for d in dists)}


@pytest.fixture
def light_env(tmp_path):
    """The environment of a process of a light client."""
    hook = tmp_path / "light-client-hook"
    hook.mkdir()
    absent = absent_modules()
    assert {"torch", "diffusers", "transformers"} <= absent and "paramiko" not in absent and "nicegui" not in absent
    (hook / "sitecustomize.py").write_text(BLOCKER.format(absent=sorted(absent)))
    env = dict(os.environ, PYTHONPATH=f"{hook}{os.pathsep}{PROJECT}", HF_HUB_OFFLINE="1",
               OT_CLOUD_PYTHON=sys.executable)  # the remote side: this python, with torch (reached over SSH)
    env.pop("PYTEST_CURRENT_TEST", None)
    for name in ("torch", "diffusers", "transformers"):
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert probe.returncode != 0 and f"No module named '{name}'" in probe.stderr  # the hook works
    return env
