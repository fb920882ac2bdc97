"""The sampling tab: when samples are made, and the sample list file of the config."""
from __future__ import annotations

from nicegui import ui

from modules.config.sample_config import SampleConfig
from ot_nicegui.dialogs.sample import open_sample_dialog
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.state.sample_list import sample_store
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.fields import field_input, watch
from ot_nicegui.widgets.list_file_view import ListFileView


class SamplingView(ListFileView):
    new_file_title = 'New sample list'
    new_file_marker = 'sample-file-name'

    def __init__(self, session: ConfigSession):
        self.session = session
        self.store = sample_store(session)
        config = session.config
        with ui.column().classes('w-full gap-2') as self.root:
            with ui.row().classes('w-full items-center gap-4'):
                field_input(config, 'sample_after').classes('w-28').mark('sample_after')
                field_input(config, 'sample_after_unit', label='Unit').classes('w-36').mark('sample_after_unit')
                field_input(config, 'sample_skip_first').classes('w-36').mark('sample_skip_first')
                field_input(config, 'sample_image_format').classes('w-32').mark('sample_image_format')
                field_input(config, 'sample_video_format').classes('w-32').mark('sample_video_format')
                field_input(config, 'sample_audio_format').classes('w-32').mark('sample_audio_format')
                field_input(config, 'non_ema_sampling').mark('non_ema_sampling')
                field_input(config, 'samples_to_tensorboard').mark('samples_to_tensorboard')
            ui.separator()
            with ui.row().classes('w-full items-center gap-2'):
                self.file_select = ui.select({}, label='Sample list', on_change=self._select_file) \
                    .classes('min-w-[220px]').mark('sample-file')
                ui.button('New list', icon='note_add', on_click=self._new_file).props('flat').mark('sample-new-file') \
                    .tooltip('Lists are files in training_samples/; the config uses one of them.')
                ui.button('Add sample', icon='add', on_click=self.store.add).mark('sample-add')
                ui.button('Enable all', on_click=lambda: self.store.set_enabled(self.store.items, True)) \
                    .props('flat dense').mark('sample-enable-all')
                ui.button('Disable all', on_click=lambda: self.store.set_enabled(self.store.items, False)) \
                    .props('flat dense').mark('sample-disable-all')
            self.error = ui.label('').classes('text-negative')
            self.rows()
        self.store.add_view(self._on_store_changed, self.root)
        self._update_files()

    def refresh_items(self) -> None:
        self.rows.refresh()

    @ui.refreshable_method
    def rows(self) -> None:
        with ui.column().classes('w-full gap-1').mark('sample-rows'):
            if not self.store.items:
                ui.label('No samples yet: add one.').classes('text-grey')
            for index, sample in enumerate(self.store.items):
                self._row(index, sample)

    def _row(self, index: int, sample: SampleConfig) -> None:
        with ui.row().classes('w-full items-center no-wrap gap-2').mark(f'sample-row-{index}') as row:
            field_input(sample, 'enabled', label='').props('dense').mark(f'sample-enabled-{index}')
            fields = [
                field_input(sample, 'width').props('dense').classes('w-20').mark(f'sample-width-{index}'),
                field_input(sample, 'height').props('dense').classes('w-20').mark(f'sample-height-{index}'),
                field_input(sample, 'seed').props('dense').classes('w-28').mark(f'sample-seed-{index}'),
                field_input(sample, 'prompt').props('dense').classes('grow').mark(f'sample-prompt-{index}'),
            ]
            for icon, text, action, marker in (
                ('tune', 'All settings', lambda: open_sample_dialog(self.session, sample), 'edit'),
                ('content_copy', 'Duplicate', lambda: self.store.duplicate(sample), 'duplicate'),
                ('arrow_upward', 'Move up', lambda: self.store.move(sample, -1), 'up'),
                ('arrow_downward', 'Move down', lambda: self.store.move(sample, 1), 'down'),
                ('delete', 'Delete', lambda: self.store.remove(sample), 'delete'),
            ):
                ui.button(icon=icon, on_click=action).props(f'flat dense round aria-label="{text}"') \
                    .tooltip(text).mark(f'sample-{marker}-{index}')

        def enable(value: bool) -> None:
            for element in fields:
                element.set_enabled(bool(value))

        enable(sample.enabled)
        watch(sample, 'enabled', enable, row)


def render(ctx: TabContext) -> None:
    SamplingView(ctx.session)
