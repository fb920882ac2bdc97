"""Top-bar preset controls: pick, save, save as, rename, delete, import a file, export a pack."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from nicegui import ui

from modules.config.base import ConfigError, LoadWarning
from ot_nicegui.dialogs.presets import ask_name, confirm, open_import_dialog
from ot_nicegui.messages import plain_error
from ot_nicegui.state.config_session import ConfigSession

MAX_IMPORT_BYTES = 16 * 1024 * 1024


def _report(announce: Callable[[str], None], message: str, warnings: list[LoadWarning]) -> None:
    announce(message)
    if warnings:
        ui.notify(f'{message}, with {len(warnings)} value(s) that could not be used: '
                  + '; '.join(str(w) for w in warnings[:3]), type='warning', multi_line=True)
    else:
        ui.notify(message, type='positive')


class PresetBar:
    """The preset menu and the buttons around it, for one client."""

    def __init__(self, session: ConfigSession, announce: Callable[[str], None]):
        self.session = session
        self.announce = announce
        with ui.row().classes('items-center gap-1 no-wrap'):
            self.picker = ui.button(icon='expand_more').props('no-caps no-wrap outline color=white') \
                .classes('max-w-[18rem]').mark('preset-picker')
            self.picker.tooltip('Load a preset')
            with self.picker:
                self.menu = ui.menu().props('max-height=70vh')
            self.dirty = ui.icon('circle', size='0.6rem').classes('text-amber-400') \
                .props('aria-label="Unsaved changes"').tooltip('Unsaved changes')
            self.save_button = self._button('save', 'Save preset', self.save, 'preset-save')
            self._button('save_as', 'Save as a new preset', self.save_as, 'preset-save-as')
            self.rename_button = self._button('drive_file_rename_outline', 'Rename preset', self.rename,
                                              'preset-rename')
            self.delete_button = self._button('delete', 'Delete preset', self.delete, 'preset-delete')
            self._button('upload_file', 'Import a config file', self.open_import, 'config-import')
            self._button('download', 'Export a self-contained config', self.export, 'config-export')
        # the menu (a hundred elements with the built-in presets) is built after the page is
        # served, or at the first click if that comes sooner: the first page opens faster
        self._menu_key: tuple | None = None
        self.picker.on_click(self._fill_menu)
        ui.timer(0.5, self._fill_menu, once=True)
        self.refresh()

    @staticmethod
    def _button(icon: str, text: str, handler: Callable, marker: str) -> ui.button:
        button = ui.button(icon=icon, on_click=handler).props(f'flat round color=white aria-label="{text}"')
        button.tooltip(text)
        return button.mark(marker)

    # ---- state shown ---------------------------------------------------------------------------
    def refresh(self) -> None:
        name = self.session.preset_name
        self.picker.text = name or 'No preset'
        user_preset = name is not None and not name.startswith('#')
        self.rename_button.set_visibility(user_preset)
        self.delete_button.set_visibility(user_preset)
        self.dirty.set_visibility(self.session.dirty)
        if self._menu_key is not None:
            self._fill_menu()

    def _fill_menu(self) -> None:
        name = self.session.preset_name
        groups = self.session.presets()
        key = (name, tuple((g, tuple(i.name for i in infos)) for g, infos in groups.items()))
        if key == self._menu_key:
            return  # most refreshes are edits of a field: the menu stays as it is
        self._menu_key = key
        self.menu.clear()
        with self.menu:
            if not groups:
                ui.menu_item('No presets yet').props('disable')
            for group, infos in groups.items():
                ui.item_label(group).props('header').classes('text-xs uppercase font-medium py-1')
                for info in infos:
                    item = ui.menu_item(info.name, on_click=lambda n=info.name: self.load(n)) \
                        .mark(f'preset-item-{info.name}')
                    if info.name == name:
                        item.classes('font-bold').props('active')

    # ---- actions -------------------------------------------------------------------------------
    def load(self, name: str) -> None:
        try:
            warnings = self.session.load_preset(name)
        except ConfigError as exc:
            ui.notify(f'Could not load preset: {exc.reason}', type='negative')
            return
        _report(self.announce, f'Loaded preset "{name}"', warnings)

    async def save(self) -> None:
        name = self.session.preset_name
        if name is None or name.startswith('#'):
            await self.save_as()
            return
        self._save(name)

    async def save_as(self) -> None:
        current = self.session.preset_name or ''
        name = await ask_name('Save as a new preset', current.lstrip('#'))
        if not name:
            return
        if self.session.user_store.user_path(name).exists() and \
                not await confirm(f'A preset named "{name}" exists. Replace it?', 'Replace'):
            return
        self._save(name)

    def _save(self, name: str) -> None:
        try:
            self.session.save_preset(name)
        except (ConfigError, OSError) as exc:
            ui.notify(f'Could not save: {plain_error(exc.reason if isinstance(exc, ConfigError) else exc)}', type='negative')
            return
        self.announce(f'Saved preset "{name}"')
        ui.notify(f'Saved preset "{name}"', type='positive')

    async def rename(self) -> None:
        old = self.session.preset_name
        if old is None:
            return
        new = await ask_name(f'Rename "{old}"', old, 'Rename')
        if not new or new == old:
            return
        try:
            self.session.rename_preset(old, new)
        except ConfigError as exc:
            ui.notify(f'Could not rename: {exc.reason}', type='negative')
            return
        self.announce(f'Renamed preset "{old}" to "{new}"')

    async def delete(self) -> None:
        name = self.session.preset_name
        if name is None:
            return
        if not await confirm(f'Delete the preset "{name}"? This cannot be undone.', 'Delete'):
            return
        try:
            self.session.delete_preset(name)
        except ConfigError as exc:
            ui.notify(f'Could not delete: {exc.reason}', type='negative')
            return
        self.announce(f'Deleted preset "{name}"')

    def open_import(self) -> None:
        open_import_dialog(self.import_upload, MAX_IMPORT_BYTES)

    async def import_upload(self, filename: str, content: bytes) -> None:
        stem = Path(filename).stem or 'imported'
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / 'config.json'
            path.write_bytes(content)
            try:
                warnings = self.session.import_config(path, name=_safe_stem(stem))
            except ConfigError as exc:
                ui.notify(f'Could not import "{filename}": {exc.reason}', type='negative', multi_line=True)
                return
        _report(self.announce, f'Imported "{filename}"', warnings)

    def export(self) -> None:
        try:
            data = self.session.export_pack()
        except ConfigError as exc:
            ui.notify(f'Could not export: {exc.reason}', type='negative')
            return
        name = (self.session.preset_name or 'config').lstrip('#') or 'config'
        ui.download.content(json.dumps(data, indent=4, ensure_ascii=False), f'{_safe_stem(name)}.json',
                            'application/json')
        self.announce('Exported the config with its concepts and samples')


def _safe_stem(stem: str) -> str:
    cleaned = ''.join(c if c.isalnum() or c in ' ._-' else '_' for c in stem).strip(' .') or 'config'
    return cleaned[:80]
