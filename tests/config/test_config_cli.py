"""`python -m modules.cli.config` prints loaded configs and their problems."""
from __future__ import annotations

import json
import subprocess
import sys

from ot_test_paths import REPO_ROOT


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'modules.cli.config', *args], capture_output=True, text=True,
                          cwd=cwd or REPO_ROOT, timeout=60)


def test_show_migrates_and_hides_secrets(tmp_path):
    path = tmp_path / 'old.json'
    path.write_text(json.dumps({'optimizer': 'LION', 'optimizer_beta1': 0.8, 'output_model_format': 'SAFETENSORS',
                                'training_method': 'LORA', 'prior': {}, 'weight_dtype': 'FLOAT_16',
                                'secrets': {'huggingface_token': 'hf_do_not_print'}}))
    result = _run('show', str(path))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown['__version'] == 11 and shown['optimizer']['beta1'] == 0.8
    assert shown['output_model_format'] == 'LEGACY_LORA'
    assert 'secrets' not in shown and 'hf_do_not_print' not in result.stdout


def test_show_preset_is_not_migrated():
    preset = REPO_ROOT / 'training_presets' / 'SDXL' / '#SDXL 1.0 LoRA.json'
    result = _run('show', '--preset', str(preset))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)['model_type'] == 'STABLE_DIFFUSION_XL_10_BASE'


def test_validate_lists_problems_and_fails(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'__version': 11, 'batch_size': 0, 'output_model_format': 'DIFFUSERS_LORA',
                                'base_model_name': str(tmp_path / 'missing')}))
    result = _run('validate', str(path))
    assert result.returncode == 1
    for field in ('batch_size', 'output_model_format', 'base_model_name', 'concept_file_name'):
        assert field in result.stdout


def test_unloadable_file_gives_message_and_nonzero_exit(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"__version": 11, ')
    result = _run('show', str(path))
    assert result.returncode == 2 and 'not valid JSON' in result.stderr and 'Traceback' not in result.stderr
    result = _run('show', str(tmp_path / 'absent.json'))
    assert result.returncode == 2 and 'file not found' in result.stderr
