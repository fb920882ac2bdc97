"""The Cloud tab's RunPod parts: the GPU types listed with the API key and chosen for a new pod, a refused key
said in one line, the note that pod actions are RunPod's only; a RunPod start that RunPod refuses ends the run
with RunPod's reason."""
from __future__ import annotations

import os

import pytest
from nicegui.testing import User

from .runpod_api import FakeRunPod, RunPodServer

API_KEY = "rpa_tab_" + os.urandom(8).hex()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("OT_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.fixture
def runpod(monkeypatch):
    api = FakeRunPod(API_KEY, "127.0.0.1", 22)
    with RunPodServer(api) as stand_in:
        monkeypatch.setenv("OT_RUNPOD_API_URL", stand_in.url)
        yield api


async def test_gpu_types_are_listed_and_one_is_chosen(user: User, runpod) -> None:
    from modules.config.enums import CloudType
    from ot_nicegui.state.config_session import get_session

    await user.open("/?tab=cloud")
    config = get_session().config
    await user.should_see("apply to RunPod pods only")
    config.cloud.type = CloudType.LINUX
    user.find(marker="cloud-gpu-types").click()
    await user.should_see("GPU types come from RunPod: choose the type RUNPOD")
    config.cloud.type = CloudType.RUNPOD
    config.secrets.cloud.api_key = "rpa_wrong"
    user.find(marker="cloud-gpu-types").click()
    await user.should_see("listing the GPU types: RunPod refused the API key (HTTP 401)")
    assert runpod.calls == []

    config.secrets.cloud.api_key = API_KEY
    user.find(marker="cloud-gpu-types").click()
    await user.should_see("RTX A4000")
    user.find(marker="runpod-gpu-NVIDIA A40").click()
    assert config.cloud.gpu_type == "NVIDIA A40"
    await user.should_not_see("RTX A4000")  # the dialog closed
    assert runpod.operations() == ["gpuTypes"]


def _settle(session) -> None:
    session.stop()
    assert session.wait(120), "the training thread did not end"
    session.drain()
    session.reset()


@pytest.fixture
def idle_training():
    """The test starts from a session without an earlier run's outcome (another test's failed reattach
    leaves one), and a run it leaves behind (on failure) is stopped before the next test."""
    from ot_nicegui.state.training_session import get_training_session

    session = get_training_session()
    _settle(session)
    yield session
    _settle(session)


async def test_a_runpod_start_in_the_app_ends_with_runpods_reason(user: User, runpod, idle_training, data_dir,
                                                                   tmp_path, tiny_model, caplog) -> None:
    from pathlib import Path

    from modules.config.enums import CloudType
    from ot_nicegui.state.config_session import get_session
    from ot_nicegui.state.training_session import Outcome, Phase
    from tests.live.support import build_concept, tiny_run, until

    from .runpod_api import NO_CAPACITY

    config = get_session().config
    tiny_run(config, data_dir, Path(tiny_model("STABLE_DIFFUSION_15")), build_concept(tmp_path / "concept"))
    config.cloud.enabled, config.cloud.type = True, CloudType.RUNPOD
    config.cloud.create, config.cloud.gpu_type = True, "NVIDIA A40"
    config.secrets.cloud.api_key = API_KEY
    runpod.capacity = False  # RunPod has no A40 free
    session = idle_training
    await user.open("/?tab=run")
    user.find(marker="train-start").click()
    await until(lambda: session.phase == Phase.IDLE and session.last_outcome is not None, timeout=120,
                what="the end of the start")
    assert session.last_outcome == Outcome.FAILED
    assert session.summary.error == f"creating a pod with NVIDIA A40 (community or secure cloud): {NO_CAPACITY}"
    assert runpod.calls == [] and not (data_dir / "models").exists()  # nothing trained here instead
    await user.should_see("There are no longer any instances available")
    caplog.clear()  # the failure was logged as an error on purpose
