"""What the concept and sample tabs share: picking, creating and following a list file."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from modules.config.base import ConfigError
from ot_nicegui.dialogs.common import ask_text
from ot_nicegui.state.list_files import ListStore, label


class ListFileView:
    """What the concept and sample tabs share: picking, creating and following a list file.

    Subclasses set `store`, `file_select` (a select of list files) and `error` (a label), and
    implement `refresh_items` to redraw their items.
    """

    store: ListStore
    new_file_title = 'New list'
    new_file_marker = 'list-file-name'

    def refresh_items(self) -> None:
        raise NotImplementedError

    def _update_files(self) -> None:
        self.file_select.set_options({name: label(name) for name in self.store.files()},
                                     value=self.store.file_name)
        self.error.set_text(self.store.error or '')

    def _select_file(self, e: Any) -> None:
        if e.value and e.value != self.store.file_name:
            self.store.select(e.value)

    async def _new_file(self) -> None:
        name = await ask_text(self.new_file_title, 'Name', self.new_file_marker)
        if not name:
            return
        try:
            self.store.create(name)
        except ConfigError as exc:
            ui.notify(exc.reason, type='negative')

    def _on_store_changed(self) -> None:
        self._update_files()
        self.refresh_items()
