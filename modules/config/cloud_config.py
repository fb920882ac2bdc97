"""Settings of remote (cloud) training."""
from __future__ import annotations

from modules.config.base import BaseConfig, fields
from modules.config.base import ConfigField as F
from modules.config.enums import CloudAction, CloudFileSync, CloudType


class CloudConfig(BaseConfig):
    """How and where a run is executed remotely."""


CloudConfig.FIELDS = fields(
    F('enabled', False, bool, tooltip='Train on a remote machine.'),
    F('type', CloudType.RUNPOD, CloudType, tooltip='RUNPOD (API-managed pod) or LINUX (existing SSH host).'),
    F('file_sync', CloudFileSync.NATIVE_SCP, CloudFileSync, tooltip='File transfer implementation.'),
    F('create', False, bool, tooltip='RunPod: create a new pod for the run when no pod ID is set.'),
    F('name', 'OneTrainer', str, tooltip='RunPod: the name of a new pod (and of the pod a reattach looks for without an ID).'),
    F('tensorboard_tunnel', True, bool, tooltip='Tunnel the remote TensorBoard port.'),
    F('sub_type', '', str, label='Machine sub-type', tooltip='RunPod: COMMUNITY or SECURE cloud for a new pod; empty takes either.'),
    F('gpu_type', '', str, tooltip='RunPod: the GPU type id of a new pod, e.g. "NVIDIA GeForce RTX 4090" (the list button fetches them).'),
    F('volume_size', 100, int, unit='GB', tooltip='Size of the disk of a new machine.'),
    F('min_download', 0, int, label='Minimum download speed', unit='Mbps', tooltip='Only machines with at least this download speed are rented.'),
    F('remote_dir', '/workspace', str, widget='dir', label='Remote folder', tooltip='Remote working dir; local paths are mapped to <remote_dir>/remote/<path>.'),
    F('huggingface_cache_dir', '/workspace/huggingface_cache', str, widget='dir', label='Hugging Face cache folder (remote)', tooltip='Remote HF cache.'),
    F('onetrainer_dir', '/workspace/OneTrainer', str, widget='dir', label='OneTrainer folder (remote)', tooltip='Remote OneTrainer checkout.'),
    F('install_cmd', 'git clone https://github.com/Nerogar/OneTrainer', str, label='Install command', tooltip='Command used to install OneTrainer remotely.'),
    F('install_onetrainer', True, bool, label='Install OneTrainer', tooltip='Install if missing.'),
    F('update_onetrainer', True, bool, label='Update OneTrainer', tooltip='Update before training.'),
    F('detach_trainer', False, bool, tooltip='Keep the remote trainer running when the UI disconnects.'),
    F('run_id', 'job1', str, tooltip='Identifier of a detached run (for re-attaching).'),
    F('download_samples', True, bool, tooltip='Sync samples back.'),
    F('download_output_model', True, bool, tooltip='Download the final model.'),
    F('download_saves', True, bool, tooltip='Sync save/ back.'),
    F('download_backups', False, bool, tooltip='Sync backup/ back.'),
    F('download_tensorboard', False, bool, tooltip='Sync tensorboard/ back.'),
    F('delete_workspace', False, bool, tooltip='Delete the remote workspace after a successful run.'),
    F('on_finish', CloudAction.NONE, CloudAction, tooltip='RunPod: stop or delete the pod after a successful run (a LINUX machine is left as it is).'),
    F('on_error', CloudAction.NONE, CloudAction, tooltip='RunPod: stop or delete the pod after any failure once it exists.'),
    F('on_detached_finish', CloudAction.NONE, CloudAction, tooltip='RunPod: what the pod does to itself after a detached run succeeded that no one followed to its end.'),
    F('on_detached_error', CloudAction.NONE, CloudAction, tooltip='RunPod: what the pod does to itself after a detached run failed that no one followed to its end.'),
)
