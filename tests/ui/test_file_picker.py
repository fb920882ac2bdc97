"""The server-side file picker never lists folders outside its roots."""
from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing import User

from ot_nicegui.dialogs.path_picker import PathDialog


async def test_picker_stays_inside_its_roots(user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / 'allowed'
    (root / 'models').mkdir(parents=True)
    (tmp_path / 'secret-folder').mkdir()
    monkeypatch.setenv('OT_BROWSE_ROOTS', str(root))
    await user.open('/')
    with user:
        dialog = PathDialog('pick', str(tmp_path / 'secret-folder'), dirs_only=True)
        assert dialog.folder == root.resolve(), 'a start folder outside the roots falls back to a root'
        dialog.show_folder(root / 'models')
        assert dialog.folder == (root / 'models').resolve()
        dialog.up()
        dialog.up()
        assert dialog.folder == root.resolve(), '"up" stops at the root'
        dialog.show_folder(Path('/etc'))
        assert dialog.folder == root.resolve()
        dialog.show_folder(root / '..' / 'secret-folder')
        assert dialog.folder == root.resolve()
