"""Path fields: a text input plus a button that browses the server's file system.

The browser runs on the machine that trains (which may be remote), so the picker lists the
server's folders, not the visitor's. Paths relative to the working folder stay relative.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nicegui import ui

from ot_nicegui.security import BrowseRoots

_MAX_ENTRIES = 500  # a folder with more entries is cut off; the path can still be typed


def list_folder(folder: Path, dirs_only: bool) -> tuple[list[Path], list[Path], bool]:
    """(sub-folders, files, truncated) of `folder`, hidden entries left out, sorted by name."""
    dirs: list[Path] = []
    files: list[Path] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith('.'):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    dirs.append(Path(entry.path))
                elif not dirs_only:
                    files.append(Path(entry.path))
    except OSError:
        return [], [], False
    dirs.sort(key=lambda p: p.name.lower())
    files.sort(key=lambda p: p.name.lower())
    truncated = len(dirs) + len(files) > _MAX_ENTRIES
    return dirs[:_MAX_ENTRIES], files[:max(0, _MAX_ENTRIES - len(dirs))], truncated


def display_path(path: Path) -> str:
    """Relative to the working folder when inside it (configs stay portable), else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or '.'
    except ValueError:
        return str(path.resolve())


def start_folder(current: str) -> Path:
    path = Path(current).expanduser() if current else Path.cwd()
    while not path.is_dir():
        if path.parent == path:
            return Path.cwd()
        path = path.parent
    return path.resolve()


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
                ui.item(f'Only the first {_MAX_ENTRIES} entries are shown').props('disable')


def path_row(label: str, value: str, on_change: Callable[[Any], None], *, dirs_only: bool) -> ui.input:
    """A text input with a browse button; returns the input."""
    with ui.row().classes('w-full items-start no-wrap gap-1'):
        element = ui.input(label, value=value, on_change=on_change, validation=lambda _: None).classes('grow')

        async def browse() -> None:
            title = f'Choose a folder for "{label}"' if dirs_only else f'Choose a file for "{label}"'
            chosen = await PathDialog(title, element.value or '', dirs_only).dialog
            if chosen is not None:
                element.set_value(chosen)

        ui.button(icon='folder_open', on_click=browse) \
            .props(f'flat dense aria-label="Browse for {label}"').classes('mt-3')
    return element
