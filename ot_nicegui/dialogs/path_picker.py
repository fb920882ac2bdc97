"""Browse the server's file system for a path field (the browser may run on another machine than
the one that trains, so it is the server's folders that are listed)."""
from __future__ import annotations

from pathlib import Path

from nicegui import ui

from ot_nicegui.security import BrowseRoots
from ot_nicegui.server_folders import MAX_ENTRIES, display_path, list_folder, start_folder


class PathDialog:
    """A dialog that lists one folder at a time; choosing an entry resolves the dialog."""

    def __init__(self, title: str, current: str, dirs_only: bool):
        self.dirs_only = dirs_only
        # Only folders below the allowed roots (OT_BROWSE_ROOTS; default: working and home folder)
        # can be listed, whatever a client sends.
        self.roots = BrowseRoots.from_environment()
        self.folder = self.roots.clamp(start_folder(current))
        with ui.dialog() as self.dialog, ui.card().classes('w-[36rem] max-w-full'):
            ui.label(title).classes('text-lg font-medium')
            with ui.row().classes('w-full items-center no-wrap'):
                ui.button(icon='arrow_upward', on_click=self.up).props('flat dense aria-label="Parent folder"')
                self.location = ui.label().classes('text-sm break-all grow').props('aria-live=polite')
            if len(self.roots.roots) > 1:
                with ui.row().classes('w-full gap-1'):
                    for root in self.roots.roots:
                        ui.button(str(root), on_click=lambda r=root: self.show_folder(r)).props('flat dense no-caps')
            self.entries = ui.list().props('dense bordered separator').classes('w-full max-h-96 overflow-auto')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=lambda: self.dialog.submit(None)).props('flat')
                if dirs_only:
                    ui.button('Use this folder', on_click=lambda: self.dialog.submit(display_path(self.folder)))
        self.show_folder(self.folder)

    def up(self) -> None:
        self.show_folder(self.roots.parent(self.folder))

    def show_folder(self, folder: Path) -> None:
        folder = self.roots.clamp(folder)
        self.folder = folder
        self.location.text = str(folder)
        dirs, files, truncated = list_folder(folder, self.dirs_only)
        self.entries.clear()
        with self.entries:
            for path in dirs:
                with ui.item(on_click=lambda p=path: self.show_folder(p)).props('clickable'):
                    with ui.item_section().props('avatar'):
                        ui.icon('folder')
                    ui.item_section(path.name)
            for path in files:
                with ui.item(on_click=lambda p=path: self.dialog.submit(display_path(p))).props('clickable'):
                    with ui.item_section().props('avatar'):
                        ui.icon('description')
                    ui.item_section(path.name)
            if not dirs and not files:
                ui.item('(empty)').props('disable')
            if truncated:
                ui.item(f'Only the first {MAX_ENTRIES} entries are shown').props('disable')
