"""A tiny SD 1.5 LoRA trained on the "remote" machine (a folder behind the local SSH server) through the
headless CLI with a cloud config: the LoRA comes back and loads in diffusers."""
from __future__ import annotations

import os

import pytest
import torch

from .helpers import TOKEN, cloud_config, files_containing, run_cli, tree_digest, write_run_files


def test_cli_trains_remotely_and_the_lora_comes_back(make_config, ssh_server, trusted, tmp_path, image_dir, tiny_model):
    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    inputs_before = tree_digest(image_dir)
    config_path, secrets_path = write_run_files(config, ssh_server, trusted)

    result = run_cli(config_path, secrets_path, trusted)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 1/2" in result.stdout  # the remote progress reached the local callbacks

    output = config.output_model_destination
    assert os.path.isfile(output)
    mapped = remote / "remote" / output.lstrip("/")
    assert mapped.read_bytes() == open(output, "rb").read()
    # the images were uploaded to their mapped place; the local ones are untouched
    assert tree_digest(remote / "remote" / image_dir.lstrip("/")) == inputs_before == tree_digest(image_dir)
    # no secret left on the remote machine, in any file (logs and the run's folder included)
    run_dir = remote / "runs" / "test-run"
    assert not (run_dir / "secrets.json").exists() and not (run_dir / "config.json").exists()
    assert files_containing(remote, TOKEN.encode()) == []
    assert files_containing(remote, open(ssh_server.key_file, "rb").read().strip().splitlines()[1]) == []
    assert TOKEN not in result.stdout + result.stderr

    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model("STABLE_DIFFUSION_15"))
    unet = pipe.unet
    torch.manual_seed(0)
    latents = torch.randn(1, unet.config.in_channels, 4, 4)
    text = torch.randn(1, 8, unet.config.cross_attention_dim)
    with torch.no_grad():
        base = unet(latents, 10, encoder_hidden_states=text).sample
        pipe.load_lora_weights(output)
        trained = unet(latents, 10, encoder_hidden_states=text).sample
    assert not torch.allclose(base, trained)  # the adapter that came back was trained


def test_a_failing_remote_run_is_one_line_and_leaves_no_secret(make_config, ssh_server, trusted, tmp_path):
    from .helpers import remote_env

    remote = tmp_path / "remote-machine"
    config = cloud_config(make_config("STABLE_DIFFUSION_15", "LORA"), remote)
    config_path, secrets_path = write_run_files(config, ssh_server, trusted)
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system python to stand for a remote one without the training packages")
    # a Python the checks accept, without torch: the remote trainer refuses at once, with status 2
    env = dict(remote_env(), OT_CLOUD_PYTHON="/usr/bin/python3")
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "modules.cli.train", "--config-path", str(config_path),
                             "--secrets-path", str(secrets_path)], cwd=trusted, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 1
    assert "error: the remote run failed (exit 2): error: cloud.enabled: this install has no local training" \
        in result.stderr and "Traceback" not in result.stderr
    run_dir = remote / "runs" / "test-run"
    assert (run_dir / "events.jsonl").is_file()
    assert not (run_dir / "secrets.json").exists() and files_containing(remote, TOKEN.encode()) == []
    assert not os.path.exists(config.output_model_destination)
