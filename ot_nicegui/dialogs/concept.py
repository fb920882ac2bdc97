"""The concept editor: general settings, image augmentation with a live preview, text
augmentation and statistics of the concept folder."""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, run, ui

from modules.config.concept_config import ConceptConfig
from ot_nicegui.dialogs.augment_preview import render_preview
from ot_nicegui.dialogs.common import dialog_frame, word_choice
from ot_nicegui.dialogs.concept_stats import ConceptStats, bucket_figure, compute_stats, smallest_buckets
from ot_nicegui.messages import plain_error
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, watch

PROMPT_SOURCES = {'sample': 'From a text file per image', 'concept': 'From one text file for all images',
                  'filename': 'From the image file name'}
TAG_DROPOUT_MODES = {'FULL': 'Full', 'RANDOM': 'Random', 'RANDOM WEIGHTED': 'Random weighted'}
SPECIAL_TAG_MODES = {'NONE': 'None', 'BLACKLIST': 'Blacklist', 'WHITELIST': 'Whitelist'}

# (row title, random switch, fixed switch, value field) of the image augmentation grid
IMAGE_AUGMENTATIONS = (
    ('Crop jitter', 'enable_crop_jitter', None, None),
    ('Flip', 'enable_random_flip', 'enable_fixed_flip', None),
    ('Rotation', 'enable_random_rotate', 'enable_fixed_rotate', 'random_rotate_max_angle'),
    ('Brightness', 'enable_random_brightness', 'enable_fixed_brightness', 'random_brightness_max_strength'),
    ('Contrast', 'enable_random_contrast', 'enable_fixed_contrast', 'random_contrast_max_strength'),
    ('Saturation', 'enable_random_saturation', 'enable_fixed_saturation', 'random_saturation_max_strength'),
    ('Hue', 'enable_random_hue', 'enable_fixed_hue', 'random_hue_max_strength'),
    ('Circular mask shrink', 'enable_random_circular_mask_shrink', None, None),
    ('Rotate and crop around the mask', 'enable_random_mask_rotate_crop', None, None),
    ('Resolution override', None, 'enable_resolution_override', 'resolution_override'),
)

TEXT_AUGMENTATIONS = ('enable_tag_shuffling', 'tag_delimiter', 'keep_tags_count', 'tag_dropout_enable',
                      'tag_dropout_probability', 'tag_dropout_special_tags', 'tag_dropout_special_tags_regex',
                      'caps_randomize_enable', 'caps_randomize_lowercase', 'caps_randomize_mode',
                      'caps_randomize_probability')


def open_concept_dialog(session: ConfigSession, concept: ConceptConfig,
                        on_close: Callable[[], None] | None = None) -> ui.dialog:
    """Edit one concept; every edit lands in the concept at once (the concept list saves it)."""
    def title() -> str:
        return f'Concept: {concept.name or concept.path or "unnamed"}'

    with dialog_frame(title(), 'concept-dialog', width='1100px', on_close=on_close) as dialog:
        watch(concept, ('name', 'path'), lambda _value: dialog.title.set_text(title()), dialog)  # follows the typing
        with ui.tabs().classes('w-full') as tabs:
            general = ui.tab('General')
            image = ui.tab('Image augmentation')
            text = ui.tab('Text augmentation')
            stats = ui.tab('Statistics')
        with ui.tab_panels(tabs, value=general).classes('w-full') as panels:
            with ui.tab_panel(general):
                _general(concept)
            with ui.tab_panel(image):
                with ui.row().classes('w-full no-wrap items-start gap-6'):
                    _image_grid(concept)
                    preview = _Preview(session, concept)
            with ui.tab_panel(text):
                _text(concept)
            with ui.tab_panel(stats):
                statistics = _Statistics(session, concept)

        def shown(e: Any) -> None:  # the preview and the scan start when their tab is first shown
            if e.value in (image, 'Image augmentation'):
                preview.start()
            elif e.value in (stats, 'Statistics'):
                statistics.start()

        panels.on_value_change(shown)
    return dialog


def _mark(element: ui.element, name: str) -> ui.element:
    return element.mark(f'concept-{name}')


def _general(concept: ConceptConfig) -> None:
    with ui.grid(columns=2).classes('w-full gap-x-6 gap-y-1'):
        _mark(field_input(concept, 'name'), 'name')
        _mark(field_input(concept, 'enabled'), 'enabled')
        _mark(field_input(concept, 'type'), 'type')
        _mark(field_input(concept, 'path'), 'path')
        _mark(word_choice(concept.text, 'prompt_source', PROMPT_SOURCES), 'prompt_source')
        prompt_path = _mark(field_input(concept.text, 'prompt_path', label='Prompt file'), 'prompt_path')
        _mark(field_input(concept, 'include_subdirectories'), 'include_subdirectories')
        _mark(field_input(concept, 'seed'), 'seed')
        _mark(field_input(concept, 'image_variations'), 'image_variations')
        _mark(field_input(concept, 'text_variations'), 'text_variations')
        _mark(field_input(concept, 'balancing'), 'balancing')
        _mark(field_input(concept, 'balancing_strategy'), 'balancing_strategy')
        _mark(field_input(concept, 'loss_weight'), 'loss_weight')

    def single_file(source: str) -> None:
        prompt_path.set_enabled(source == 'concept')

    single_file(concept.text.prompt_source)
    watch(concept.text, 'prompt_source', single_file, prompt_path)


def _image_grid(concept: ConceptConfig) -> None:
    settings = concept.image
    with ui.grid(columns='auto auto auto 1fr').classes('items-center gap-x-4 gap-y-0 grow'):
        for heading in ('', 'Random', 'Fixed', 'Value'):
            ui.label(heading).classes('text-bold')
        for title, random_name, fixed_name, value_name in IMAGE_AUGMENTATIONS:
            ui.label(title)
            for name, column in ((random_name, 'Random'), (fixed_name, 'Fixed')):
                if name is None:
                    ui.label('')
                else:
                    _mark(field_input(settings, name, label=column).props('dense'), name)
            if value_name is None:
                ui.label('')
            else:
                _mark(field_input(settings, value_name, label=title).props('dense'), value_name)


def _text(concept: ConceptConfig) -> None:
    settings = concept.text
    with ui.grid(columns=2).classes('w-full gap-x-6 gap-y-1'):
        for name in TEXT_AUGMENTATIONS[:5]:
            _mark(field_input(settings, name), name)
        _mark(word_choice(settings, 'tag_dropout_mode', TAG_DROPOUT_MODES), 'tag_dropout_mode')
        _mark(word_choice(settings, 'tag_dropout_special_tags_mode', SPECIAL_TAG_MODES),
              'tag_dropout_special_tags_mode')
        for name in TEXT_AUGMENTATIONS[5:]:
            _mark(field_input(settings, name), name)


class _Preview:
    """The concept's images as training sees them; redrawn whenever a setting changes."""

    def __init__(self, session: ConfigSession, concept: ConceptConfig):
        self.session = session
        self.concept = concept
        self.index = 0
        self.variation = random.randrange(1 << 30)
        self.busy = False
        self.pending = False
        self.started = False
        with ui.column().classes('items-center gap-1').style('width: 320px') as self.column:
            self.image = ui.image().style('width: 300px; height: 300px').props('fit=contain') \
                .mark('concept-preview')
            self.file = ui.label('').classes('text-caption')
            with ui.row().classes('items-center gap-1'):
                ui.button(icon='chevron_left', on_click=lambda: self.step(-1)).props('flat dense aria-label="Previous image"')
                ui.button('New variation', icon='casino', on_click=self.reroll).props('flat dense').mark('concept-reroll')
                ui.button(icon='chevron_right', on_click=lambda: self.step(1)).props('flat dense aria-label="Next image"')
            self.augment = ui.switch('Show augmentations', value=True, on_change=self.schedule).mark('concept-augment')
            self.caption = ui.label('').classes('text-body2 w-full').mark('concept-preview-caption')
        watch(concept.image, None, lambda _: self.schedule(), self.column)
        watch(concept.text, None, lambda _: self.schedule(), self.column)
        watch(concept, ('path', 'include_subdirectories', 'seed'), lambda _: self.schedule(), self.column)

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.schedule()

    def step(self, delta: int) -> None:
        self.index += delta
        self.schedule()

    def reroll(self) -> None:
        self.variation = random.randrange(1 << 30)
        self.schedule()

    def schedule(self, *_: Any) -> None:
        if not self.started:
            return
        if self.busy:
            self.pending = True
            return
        self.busy = True
        background_tasks.create(self._draw(), name='concept preview')

    async def _draw(self) -> None:
        try:
            while True:
                self.pending = False
                await self._render()
                if not self.pending or self.column.is_deleted:
                    break
        finally:
            self.busy = False

    async def _render(self) -> None:
        snapshot = self.concept.copy()  # the worker thread must not see half-made edits
        try:
            preview = await run.io_bound(render_preview, snapshot, self.index, augment=self.augment.value,
                                         variation=self.variation, resolution=str(self.session.config.resolution),
                                         bucketing=bool(self.session.config.aspect_ratio_bucketing))
        except FileNotFoundError:
            self._show(None, 'The concept folder does not exist.')
            return
        except (OSError, ValueError) as exc:
            self._show(None, f'Cannot show a preview: {exc}')
            return
        if preview is None:
            self._show(None, 'The concept folder holds no images.')
            return
        self.index = preview.index
        self._show(preview.image, preview.caption or '(no caption)',
                   f'{preview.file}  ({preview.index + 1} of {preview.count})')

    def _show(self, image: Any, caption: str, file: str = '') -> None:
        if self.column.is_deleted:
            return
        self.image.set_source(image if image is not None else '')
        self.caption.set_text(caption)
        self.file.set_text(file)


STAT_ROWS = (
    ('Folders', 'directories', ''), ('Total size', 'total_size_mb', 'MB'), ('Images', 'images', ''),
    ('Captions', 'captions', ''), ('Masks', 'masks', ''), ('Images with captions', 'images_with_captions', ''),
    ('Images with masks', 'images_with_masks', ''), ('Captions without image', 'unpaired_captions', ''),
    ('Masks without image', 'unpaired_masks', ''),
)
EXTREME_ROWS = (
    ('Smallest image', 'min_pixels', 'MP'), ('Average image', 'avg_pixels', 'MP'), ('Largest image', 'max_pixels', 'MP'),
    ('Shortest caption', 'min_caption', 'chars'), ('Average caption', 'avg_caption', 'chars'),
    ('Longest caption', 'max_caption', 'chars'),
)


class _Statistics:
    """Counts, sizes and aspect buckets of the concept folder; kept in the concept after a scan."""

    def __init__(self, session: ConfigSession, concept: ConceptConfig):
        self.session = session
        self.concept = concept
        with ui.column().classes('w-full gap-2') as self.column:
            with ui.row().classes('items-center'):
                self.button = ui.button('Scan folder', icon='refresh', on_click=self.refresh).mark('concept-stats-refresh')
                self.status = ui.label('').classes('text-caption').mark('concept-stats-status')
            self.table = ui.grid(columns='auto auto').classes('gap-x-6 gap-y-0').mark('concept-stats-table')
            self.smallest = ui.label('').classes('text-caption')
            self.chart = ui.plotly({'data': [], 'layout': {}}).classes('w-full').mark('concept-stats-chart')
        self.started = False
        if concept.concept_stats:
            self._show(ConceptStats.from_dict(concept.concept_stats))
            self.status.set_text('Stored from the last scan.')

    def start(self) -> None:
        """Scan on first view when no stored result exists."""
        if not self.started and not self.concept.concept_stats:
            background_tasks.create(self.refresh(), name='concept statistics')
        self.started = True

    async def refresh(self) -> None:
        self.button.disable()
        self.status.set_text('Scanning…')
        try:
            stats = await run.io_bound(compute_stats, self.concept.copy(), str(self.session.config.resolution))
        except (OSError, ValueError) as exc:
            if not self.column.is_deleted:
                self.status.set_text(f'Cannot scan: {plain_error(exc)}')
                self.button.enable()
            return
        if self.column.is_deleted:
            return
        self.button.enable()
        self.concept.concept_stats = stats.to_dict()
        self._show(stats)
        self.status.set_text(f'Scanned in {stats.seconds:.2f} s.')

    def _show(self, stats: ConceptStats) -> None:
        self.table.clear()
        with self.table:
            for title, name, unit in STAT_ROWS:
                ui.label(title)
                ui.label(f'{getattr(stats, name)} {unit}'.strip()).mark(f'concept-stat-{name}')
            for title, name, unit in EXTREME_ROWS:
                extreme = getattr(stats, name)
                ui.label(title)
                parts = [f'{extreme.value} {unit}', extreme.detail if extreme.detail != 'characters' else '', extreme.file]
                ui.label('  '.join(p for p in parts if p)).mark(f'concept-stat-{name}')
        smallest = smallest_buckets(stats)
        self.smallest.set_text('Smallest buckets: ' + ', '.join(f'{k} ({v})' for k, v in smallest)
                               + ' — a bucket with fewer images than the batch size drops them.' if smallest else '')
        if stats.unreadable:
            self.smallest.set_text(f'{self.smallest.text} Unreadable: {", ".join(stats.unreadable[:5])}')
        self.chart.figure = bucket_figure(stats)
        self.chart.update()
