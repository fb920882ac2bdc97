"""The dataset editor (`/dataset?path=FOLDER`): a folder's images as a paged thumbnail grid, the
selected image's caption (Up/Down move between images, Enter saves) and its mask, painted on a
canvas over the image (`static/dataset_editor.js`).

Only folders inside the server's browse roots (`security.BrowseRoots`, the folders the path
picker shows) can be opened. Each opened folder gets a random token for this page; the file
routes serve images, masks and thumbnails only for a live token and only from inside its folder.
Masks are painted in the browser and posted as PNG to the same route; captions are saved here.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import Request  # at module level: the route's annotation must resolve
from nicegui import app, context, run, ui

from modules.tools.dataset import (
    IMAGE_SUFFIXES,
    DatasetImage,
    filter_images,
    mask_path,
    open_folder,
    read_caption,
    scan,
    thumbnail,
    write_caption,
    write_mask,
)
from modules.tools.task import ToolError
from ot_nicegui.security import BrowseRoots, contained_file
from ot_nicegui.tool_paths import outside_message

PATH = '/dataset'
FILES_ROUTE = '/dataset-files'
PAGE_SIZE = 48
HEAD = ('<link rel="stylesheet" href="ot-static/app.css?v=1">'
        '<link rel="stylesheet" href="ot-static/dataset_editor.css?v=1">'
        '<script src="ot-static/app.js?v=1" defer></script>'
        '<script src="ot-static/dataset_editor.js?v=1" defer></script>')
MISSING = {'': 'All images', 'caption': 'Missing caption', 'mask': 'Missing mask'}

# token -> folder, for the pages open now (a token dies with its page)
_opened: dict[str, Path] = {}


def dataset_url(folder: str, include_subfolders: bool = False) -> str:
    """The editor's address for `folder` (used by the Concepts tab)."""
    query = {'path': folder}
    if include_subfolders:
        query['subfolders'] = '1'
    return f'{PATH}?{urlencode(query)}'


def allowed_folder(folder: str) -> Path:
    """The folder, resolved, when the server may open it; a clear error otherwise."""
    path = open_folder(folder)
    roots = BrowseRoots.from_environment()
    if not roots.contains(path):
        raise ToolError(outside_message('Folder', folder, roots))
    return path


def _file_url(token: str, kind: str, relative: str) -> str:
    # relative to the page, so it works behind a reverse proxy's path prefix
    return f'{FILES_ROUTE.lstrip("/")}/{token}/{kind}/{quote(relative)}'


def register(data_dir: str | Path) -> None:
    """Register the page, its file routes and its entry in the Tools tab (inside `setup()`)."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse, JSONResponse

    from ot_nicegui.tabs.tools import register_tool

    cache = Path(data_dir) / 'cache' / 'thumbnails'
    headers = {'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff'}

    def image_of(token: str, relative: str) -> Path:
        root = _opened.get(token)
        path = contained_file(root, relative, IMAGE_SUFFIXES) if root is not None else None
        if path is None:
            raise HTTPException(status_code=404)
        return path

    @app.get(FILES_ROUTE + '/{token}/thumb/{relative:path}', include_in_schema=False)
    def serve_thumbnail(token: str, relative: str) -> FileResponse:
        try:
            return FileResponse(thumbnail(image_of(token, relative), cache), headers=headers)
        except ToolError:
            raise HTTPException(status_code=404) from None

    @app.get(FILES_ROUTE + '/{token}/image/{relative:path}', include_in_schema=False)
    def serve_image(token: str, relative: str) -> FileResponse:
        return FileResponse(image_of(token, relative), headers=headers)

    @app.get(FILES_ROUTE + '/{token}/mask/{relative:path}', include_in_schema=False)
    def serve_mask(token: str, relative: str) -> FileResponse:
        mask = mask_path(image_of(token, relative))
        if not mask.is_file():
            raise HTTPException(status_code=404)
        return FileResponse(mask, headers=headers)

    @app.post(FILES_ROUTE + '/{token}/mask/{relative:path}', include_in_schema=False)
    async def save_mask(token: str, relative: str, request: Request) -> JSONResponse:
        root = _opened.get(token)
        if root is None:
            return JSONResponse({'message': 'this editor page has expired; reload it'}, status_code=404)
        body = await request.body()
        try:
            path = await run.io_bound(write_mask, root, relative, body)
        except ToolError as error:
            return JSONResponse({'message': str(error)}, status_code=409)
        return JSONResponse({'message': f'Mask saved: {path.name}'})

    @ui.page(PATH, title='Dataset editor – OT NiceGUI')
    async def dataset_page(path: str = '', subfolders: str = '') -> None:
        await DatasetEditor(path, subfolders == '1').open()

    register_tool('Dataset editor', 'Browse a folder of training images, edit their captions and paint their masks.',
                  lambda _session: ui.navigate.to(PATH))


@dataclass
class Listing:
    """What the grid shows: the folder's images, the filtered ones, the page and the selection."""
    root: Path | None = None
    images: list[DatasetImage] = field(default_factory=list)
    shown: list[DatasetImage] = field(default_factory=list)
    page: int = 1
    current: int = -1  # index into `shown`

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.shown) // PAGE_SIZE))

    def page_of(self, index: int) -> int:
        return index // PAGE_SIZE + 1


class DatasetEditor:
    """One browser tab's editor."""

    def __init__(self, folder: str, include_subfolders: bool):
        self.token = secrets.token_urlsafe(12)
        self.listing = Listing()
        self.tiles: dict[int, ui.element] = {}
        context.client.on_delete(lambda: _opened.pop(self.token, None))
        ui.add_head_html(HEAD)
        self.dark = ui.dark_mode(_stored_dark())
        self._header(folder, include_subfolders)
        with ui.row().classes('w-full items-start gap-4 ot-ds-body'):  # the editor goes below on a phone
            with ui.column().classes('ot-ds-list gap-2'):
                self._filters()
                self.grid = ui.element('div').classes('ot-ds-grid').mark('dataset-grid')
            with ui.column().classes('ot-ds-editor gap-2'):
                self._editor()
        ui.on('ot_dataset_mask', self._mask_saved)

    # ---- layout ---------------------------------------------------------------------------------------
    def _header(self, folder: str, include_subfolders: bool) -> None:
        with ui.header(elevated=True).classes('items-center gap-2 px-3 py-1 ot-top'):
            ui.button(icon='arrow_back', on_click=lambda: ui.navigate.to('/')) \
                .props('flat round color=white aria-label="Back to the trainer"')
            ui.label('Dataset editor').classes('text-lg font-bold mr-2').props('role=heading aria-level=1')
            self.folder = ui.input('Folder', value=folder).props('dense dark standout clearable') \
                .classes('grow').mark('dataset-folder')
            self.folder.on('keydown.enter', self.open)
            self.subfolders = ui.switch('Include subfolders', value=include_subfolders) \
                .props('dark color=white').mark('dataset-subfolders')
            ui.button('Open', icon='folder_open', on_click=self.open).props('flat color=white').mark('dataset-open')
            self.theme = ui.button(on_click=self._toggle_theme).props('flat round color=white').mark('theme-toggle')
            self._show_theme()

    def _filters(self) -> None:
        with ui.row().classes('w-full items-center gap-2'):
            self.filter = ui.input('Caption contains', on_change=self._refilter) \
                .props('dense clearable debounce=300').classes('grow').mark('dataset-filter')
            self.missing = ui.select(MISSING, value='', on_change=self._refilter) \
                .props('dense').classes('w-44').mark('dataset-missing')
        with ui.row().classes('w-full items-center gap-2'):
            self.count = ui.label('No folder open.').classes('text-sm grow').mark('dataset-count')
            self.pager = ui.pagination(1, 1, direction_links=True, on_change=self._page_changed) \
                .props('dense max-pages=7 boundary-numbers').mark('dataset-pages')

    def _editor(self) -> None:
        self.name = ui.label('Select an image.').classes('text-base font-medium ellipsis w-full') \
            .mark('dataset-name')
        with ui.row().classes('w-full items-center gap-2'):
            self.tool = ui.toggle({'draw': 'Draw', 'erase': 'Erase', 'fill': 'Fill'}, value='draw',
                                  on_change=lambda e: self._js(f'otDataset.setTool({json.dumps(e.value)})')) \
                .props('dense no-caps').mark('dataset-tool')
            ui.button(icon='undo', on_click=lambda: self._js('otDataset.undo()')) \
                .props('flat dense round aria-label="Undo the last stroke"').tooltip('Undo').mark('dataset-undo')
            self.mask_only = ui.switch('Mask only', on_change=lambda e: self._js(
                f'otDataset.setMaskOnly({json.dumps(bool(e.value))})')).mark('dataset-mask-only')
        with ui.row().classes('w-full items-center gap-4 no-wrap'):
            ui.label('Brush').classes('text-sm')
            ui.slider(min=0.25, max=20, step=0.25, value=1,
                      on_change=lambda e: self._js(f'otDataset.setBrush({float(e.value)})')) \
                .props('label dense aria-label="Brush size"').classes('grow').mark('dataset-brush') \
                .tooltip('Brush radius in % of the longer image side')
            ui.label('Alpha').classes('text-sm')
            ui.slider(min=0.05, max=1, step=0.05, value=1,
                      on_change=lambda e: self._js(f'otDataset.setAlpha({float(e.value)})')) \
                .props('label dense aria-label="Brush alpha"').classes('grow').mark('dataset-alpha') \
                .tooltip('Grey level painted: 1 = white = train')
        ui.element('div').props('id=ot-dataset-canvas').classes('ot-ds-canvas w-full').mark('dataset-canvas')
        self.caption = ui.input('Caption').props('dense outlined').classes('w-full').mark('dataset-caption')
        self.caption.tooltip('Enter saves the caption and the mask; Up and Down go to the previous and next image; '
                             'Ctrl+M shows the mask only, Ctrl+D draws, Ctrl+F fills')
        self.caption.on('keydown.enter', self.save)
        self.caption.on('keydown.up', lambda: self.move(-1))
        self.caption.on('keydown.down', lambda: self.move(1))
        # OneTrainer's shortcuts while typing: Ctrl+M mask only, Ctrl+D draw, Ctrl+F fill
        self.caption.on('keydown.ctrl.m.prevent', lambda: self.mask_only.set_value(not self.mask_only.value))
        self.caption.on('keydown.ctrl.d.prevent', lambda: self.tool.set_value('draw'))
        self.caption.on('keydown.ctrl.f.prevent', lambda: self.tool.set_value('fill'))
        with ui.row().classes('w-full items-center gap-2'):
            ui.button('Save', icon='save', on_click=self.save).mark('dataset-save')
            self.status = ui.label('').props('role=status aria-live=polite').classes('text-sm grow') \
                .mark('dataset-status')

    # ---- folder ---------------------------------------------------------------------------------------
    async def open(self) -> None:
        folder = (self.folder.value or '').strip()
        if not folder:
            return
        try:
            root = allowed_folder(folder)
            images = await run.io_bound(scan, root, bool(self.subfolders.value))
        except ToolError as error:
            self.say(str(error), error=True)
            return
        _opened[self.token] = root
        self.listing = Listing(root, images)
        await self._apply_filter()
        if self.listing.shown:
            self.select(0)

    async def _refilter(self) -> None:
        if self.listing.root is not None:
            await self._apply_filter()

    async def _apply_filter(self) -> None:
        listing = self.listing
        listing.shown = await run.io_bound(filter_images, listing.root, listing.images,
                                           self.filter.value or '', self.missing.value or '')
        listing.current = -1
        listing.page = 1
        total = len(listing.images)
        self.count.text = (f'{len(listing.shown)} of {total} images' if len(listing.shown) != total
                           else f'{total} image{"s" if total != 1 else ""}')
        self.pager.max = listing.pages
        self.pager.value = 1
        self._render_grid()

    def _page_changed(self) -> None:
        if self.pager.value != self.listing.page:
            self.listing.page = int(self.pager.value)
            self._render_grid()

    def _render_grid(self) -> None:
        listing = self.listing
        start = (listing.page - 1) * PAGE_SIZE
        self.grid.clear()
        self.tiles = {}
        with self.grid:
            for index, image in enumerate(listing.shown[start:start + PAGE_SIZE], start):
                selected = ' ot-ds-selected' if index == listing.current else ''
                with ui.element('button').classes(f'ot-ds-tile{selected}') \
                        .props(f'type=button title="{_attr(image.relative)}"') \
                        .on('click', lambda i=index: self.select(i)).mark(f'dataset-tile-{index}') as tile:
                    ui.html(_tile_html(_file_url(self.token, 'thumb', image.relative), image), sanitize=False)
                self.tiles[index] = tile

    # ---- selection ------------------------------------------------------------------------------------
    def select(self, index: int) -> None:
        listing = self.listing
        if not 0 <= index < len(listing.shown):
            return
        previous, listing.current = listing.current, index
        image = listing.shown[index]
        if listing.page_of(index) != listing.page:
            listing.page = listing.page_of(index)
            self.pager.value = listing.page
            self._render_grid()
        else:  # same page: move the highlight instead of rebuilding the grid
            if previous in self.tiles:
                self.tiles[previous].classes(remove='ot-ds-selected')
            self.tiles[index].classes(add='ot-ds-selected')
        self.name.text = image.relative
        self.caption.value = read_caption(listing.root, image.relative)
        self.status.text = ''
        has_mask = mask_path(listing.root / image.relative).is_file()
        self._js('otDataset.show(' + json.dumps({
            'relative': image.relative,
            'image': _file_url(self.token, 'image', image.relative),
            'mask': _file_url(self.token, 'mask', image.relative) if has_mask else None,
            'save': _file_url(self.token, 'mask', image.relative),
        }) + ')')

    def move(self, step: int) -> None:
        """Up/Down: the previous or next image (an unsaved edit is dropped, as in OneTrainer)."""
        self.select(self.listing.current + step)

    @property
    def current(self) -> DatasetImage | None:
        listing = self.listing
        return listing.shown[listing.current] if 0 <= listing.current < len(listing.shown) else None

    # ---- saving ---------------------------------------------------------------------------------------
    async def save(self) -> None:
        image = self.current
        if image is None:
            return
        try:
            await run.io_bound(write_caption, self.listing.root, image.relative, self.caption.value or '')
        except ToolError as error:
            self.say(str(error), error=True)
            return
        self._replace(image, has_caption=True)
        self.say(f'Caption saved: {Path(image.relative).with_suffix(".txt").name}')
        self._js('otDataset.saveMask()')  # the browser posts the mask when it was edited

    def _mask_saved(self, event) -> None:
        args = event.args or {}
        self.say(str(args.get('message', '')), error=not args.get('ok'))
        if args.get('ok'):
            image = next((i for i in self.listing.shown if i.relative == args.get('relative')), None)
            if image is not None and not image.has_mask:
                self._replace(image, has_mask=True)
                self._render_grid()

    def _replace(self, image: DatasetImage, **changes) -> None:
        updated = DatasetImage(**{**image.__dict__, **changes})
        for items in (self.listing.images, self.listing.shown):
            for i, item in enumerate(items):
                if item is image:
                    items[i] = updated

    def say(self, message: str, error: bool = False) -> None:
        self.status.text = message
        self.status.props(f'role={"alert" if error else "status"}')
        self.status.classes(add='text-negative' if error else '', remove='' if error else 'text-negative')

    # ---- browser side ---------------------------------------------------------------------------------
    @staticmethod
    def _js(code: str) -> None:
        # the script may still be loading when the page's first call arrives: it runs queued calls
        ui.run_javascript(f'(window.otDatasetQueue = window.otDatasetQueue || []).push(() => {code});'
                          'window.otDataset && otDataset.drain();')

    def _toggle_theme(self) -> None:
        self.dark.value = not self.dark.value
        if _has_user_storage():
            app.storage.user['dark'] = self.dark.value
        self._show_theme()

    def _show_theme(self) -> None:
        dark = self.dark.value
        label = 'Switch to light theme' if dark else 'Switch to dark theme'
        self.theme.props(f'icon={"light_mode" if dark else "dark_mode"} aria-label="{label}"')


def _tile_html(url: str, image: DatasetImage) -> str:
    badges = ('' if image.has_caption else '<span class="ot-ds-badge" title="No caption">no caption</span>') + \
             ('<span class="ot-ds-badge ot-ds-badge-mask" title="Has a mask">mask</span>' if image.has_mask else '')
    return (f'<img src="{_attr(url)}" loading="lazy" decoding="async" alt="{_attr(image.relative)}">'
            f'<span class="ot-ds-badges">{badges}</span>')


def _attr(text: str) -> str:
    return text.replace('&', '&amp;').replace('"', '&quot;').replace('<', '&lt;')


def _has_user_storage() -> bool:
    from nicegui.storage import Storage

    return Storage.secret is not None


def _stored_dark() -> bool | None:
    return app.storage.user.get('dark') if _has_user_storage() else None
