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
    F('create', False, bool, tooltip='Create a new pod.'),
    F('name', 'OneTrainer', str, tooltip='Pod name.'),
    F('tensorboard_tunnel', True, bool, tooltip='Tunnel the remote TensorBoard port.'),
    F('sub_type', '', str, label='Machine sub-type', tooltip='Provider sub type (e.g. cloud tier).'),
    F('gpu_type', '', str, tooltip='Provider GPU type id.'),
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
    F('on_finish', CloudAction.NONE, CloudAction, tooltip='Pod action after success.'),
    F('on_error', CloudAction.NONE, CloudAction, tooltip='Pod action after an error.'),
    F('on_detached_finish', CloudAction.NONE, CloudAction, tooltip='Action after success of a detached run.'),
    F('on_detached_error', CloudAction.NONE, CloudAction, tooltip='Action after error of a detached run.'),
)
