"""A cloud run started from the app: the run tab shows the remote run's progress and its end, the loss
values arrive as for a local run, and the model comes back to the data folder."""
from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing import User

from tests.live.support import build_concept, tiny_run, until


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("OT_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


@pytest.fixture(autouse=True)
def idle_training():
    """A run this test leaves behind (on failure) is stopped before the next test."""
    from ot_nicegui.state.training_session import get_training_session

    session = get_training_session()
    yield
    session.stop()
    assert session.wait(120), "the training thread did not end"
    session.drain()
    session.reset()


async def test_a_cloud_run_started_in_the_ui_shows_the_remote_progress(user: User, ssh_server, data_dir: Path,
                                                                      tmp_path, tiny_model, monkeypatch) -> None:
    import sys

    from modules.cloud.connection import fetch_host_key, known_hosts_path, trust_host_key
    from modules.config.enums import CloudType
    from ot_nicegui.state.config_session import get_session
    from ot_nicegui.state.training_session import Outcome, Phase, get_training_session

    monkeypatch.setenv("OT_CLOUD_PYTHON", sys.executable)
    trust_host_key(ssh_server.host, ssh_server.port, fetch_host_key(ssh_server.host, ssh_server.port),
                   known_hosts_path(data_dir))
    await user.open("/?tab=cloud")  # the tab that tells the trainer where the trusted keys are
    config = get_session().config
    tiny_run(config, data_dir, Path(tiny_model("STABLE_DIFFUSION_15")), build_concept(tmp_path / "concept"), epochs=2)
    config.tensorboard = False
    config.cloud.enabled, config.cloud.type = True, CloudType.LINUX
    remote = tmp_path / "remote-machine"
    config.cloud.remote_dir, config.cloud.onetrainer_dir = str(remote), str(remote / "OneTrainer")
    config.cloud.huggingface_cache_dir, config.cloud.run_id = str(remote / "hf"), "from-the-app"
    secrets = config.secrets.cloud
    secrets.host, secrets.port, secrets.user, secrets.key_file = (ssh_server.host, str(ssh_server.port),
                                                                  ssh_server.user, ssh_server.key_file)
    session = get_training_session()
    await user.open("/?tab=run")
    user.find(marker="train-start").click()
    await until(lambda: session.progress.global_step >= 1, timeout=400, what="the first remote step")
    # the remote steps arrive in batches twice a second: whichever step the bar shows, it knows the run's length
    await user.should_see(content=" / 2", marker="train-progress", retries=100)
    await until(lambda: session.phase == Phase.IDLE, timeout=400, what="the end of the remote run")
    assert session.last_outcome == Outcome.FINISHED, session.summary
    await user.should_see("Training finished")
    assert session.scalars["loss/train_step"][0] == [0, 1, 2, 3]  # every remote scalar came through
    assert (data_dir / "models" / "out.safetensors").is_file()
    assert (remote / "remote" / str(data_dir / "models" / "out.safetensors").lstrip("/")).is_file()
