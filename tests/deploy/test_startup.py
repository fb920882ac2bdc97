"""Starting the real program: a network address without a password is refused before listening."""
from __future__ import annotations

import subprocess
import sys

from deploy.harness import child_env, free_port


def test_public_address_without_password_is_refused(tmp_path):
    port = free_port()
    result = subprocess.run([sys.executable, '-m', 'ot_nicegui', '--host', '0.0.0.0', '--port', str(port)],
                            cwd=tmp_path, env=child_env(OT_DATA_DIR=str(tmp_path / 'data'),
                                                        NICEGUI_STORAGE_PATH=str(tmp_path / 'storage')),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert 'Refusing to serve on 0.0.0.0 without a password' in result.stderr
    assert '--no-auth' in result.stderr
    assert 'ready to go' not in result.stdout + result.stderr  # the server never started
