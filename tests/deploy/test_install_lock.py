"""requirements.lock pins every dependency of every extra, inside the ranges pyproject.toml allows,
and leaves torch to its own pinned install step."""
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    return [Requirement(spec) for group in groups for spec in group]


def test_every_declared_dependency_is_locked_inside_its_range():
    locked = _locked()
    problems = []
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement.name} is not in requirements.lock (run `make lock`)")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement.name}=={locked[name]} is outside {requirement.specifier}")
    assert not problems, "\n".join(problems)


def test_torch_stays_out_of_the_lock():
    # torch is installed first at its own pin; a CUDA build's companions must never come in through the lock
    locked = _locked()
    assert "torch" not in locked
    cuda_runtime = [name for name in locked
                    if name.startswith(("nvidia-", "triton")) and name != "nvidia-ml-py"]  # NVML stats only
    assert not cuda_runtime


def test_makefile_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    install = [line for line in makefile.splitlines() if "pip install" in line and "-e '." in line]
    assert install and all("--constraint $(LOCK)" in line for line in install)
