"""The concepts tab: the concept list file of the config as a grid of cards."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from modules.config.concept_config import ConceptConfig
from modules.config.enums import ConceptType
from ot_nicegui.dialogs.augment_preview import card_thumbnail
from ot_nicegui.dialogs.concept import open_concept_dialog
from ot_nicegui.pages.dataset_editor import dataset_url
from ot_nicegui.state.concept_list import concept_store, display_name, matches
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs.context import TabContext
from ot_nicegui.widgets.fields import field_input, watch
from ot_nicegui.widgets.list_file_view import ListFileView


class ConceptsView(ListFileView):
    new_file_title = 'New concept list'
    new_file_marker = 'concept-file-name'

    def __init__(self, session: ConfigSession):
        self.session = session
        self.store = concept_store(session)
        with ui.column().classes('w-full gap-2') as self.root:
            with ui.row().classes('w-full items-center gap-2'):
                self.file_select = ui.select({}, label='Concept list', on_change=self._select_file) \
                    .classes('min-w-[220px]').mark('concept-file')
                ui.button('New list', icon='note_add', on_click=self._new_file).props('flat').mark('concept-new-file') \
                    .tooltip('Lists are files in training_concepts/; the config uses one of them.')
                ui.button('Add concept', icon='add', on_click=self._add).mark('concept-add')
                ui.separator().props('vertical')
                self.search = ui.input('Filter', on_change=lambda: self.grid.refresh()) \
                    .props('clearable dense').mark('concept-filter')
                self.kind = ui.select({None: 'All types', **{t: t.label for t in ConceptType}}, value=None,
                                      label='Type', on_change=lambda: self.grid.refresh()).props('dense') \
                    .classes('min-w-[140px]').mark('concept-type-filter')
                self.show_disabled = ui.switch('Show disabled', value=True, on_change=lambda: self.grid.refresh()) \
                    .mark('concept-show-disabled')
                ui.button('Enable shown', on_click=lambda: self._enable_visible(True)).props('flat dense') \
                    .mark('concept-enable-all')
                ui.button('Disable shown', on_click=lambda: self._enable_visible(False)).props('flat dense') \
                    .mark('concept-disable-all')
            self.error = ui.label('').classes('text-negative')
            self.grid()
        self.store.add_view(self._on_store_changed, self.root)
        self._update_files()

    # ---- the list file -----------------------------------------------------------------------------
    def refresh_items(self) -> None:
        self.grid.refresh()

    # ---- edits -------------------------------------------------------------------------------------
    def _add(self) -> None:
        self._edit(self.store.add())  # a new concept needs its folder at least: its editor opens

    def visible(self) -> list[ConceptConfig]:
        return [c for c in self.store.items
                if matches(c, self.search.value or '', self.kind.value, self.show_disabled.value)]

    def _enable_visible(self, value: bool) -> None:
        self.store.set_enabled(self.visible(), value)

    # ---- cards ---------------------------------------------------------------------------------------
    @ui.refreshable_method
    def grid(self) -> None:
        shown = self.visible()
        with ui.row().classes('w-full gap-3').mark('concept-grid'):
            if not shown:
                ui.label('No concepts yet: add one.' if not self.store.items else 'No concept matches the filter.') \
                    .classes('text-grey')
            for concept in shown:
                self._card(concept)

    def _card(self, concept: ConceptConfig) -> None:
        index = self.store.items.index(concept)
        with ui.card().tight().classes('w-[170px]').mark(f'concept-card-{index}') as card:
            picture = card_thumbnail(concept)
            with ui.element('div').classes('cursor-pointer w-full').on('click', lambda: self._edit(concept)):
                if picture is not None:
                    ui.image(picture).classes('w-full aspect-square')
                else:
                    with ui.element('div').classes('w-full aspect-square bg-grey-4 flex items-center justify-center'):
                        ui.icon('image_not_supported', size='48px').classes('text-grey-7')
            with ui.column().classes('p-2 gap-0 w-full'):
                name = ui.label(display_name(concept)).classes('text-bold ellipsis w-full')
                path = ui.label(concept.path).classes('text-caption text-grey ellipsis w-full')
                watch(concept, ('name', 'path'), lambda _: (name.set_text(display_name(concept)),
                                                            path.set_text(concept.path)), card)
                field_input(concept, 'enabled').props('dense').mark(f'concept-enabled-{index}')
                with ui.row().classes('gap-0'):
                    self._button('edit', 'Edit', lambda: self._edit(concept), f'concept-edit-{index}')
                    self._button('brush', 'Edit captions and masks', lambda: ui.navigate.to(
                        dataset_url(concept.path, concept.include_subdirectories)), f'concept-dataset-{index}')
                    self._button('content_copy', 'Duplicate', lambda: self.store.duplicate(concept),
                                 f'concept-duplicate-{index}')
                    self._button('chevron_left', 'Move left', lambda: self.store.move(concept, -1),
                                 f'concept-left-{index}')
                    self._button('chevron_right', 'Move right', lambda: self.store.move(concept, 1),
                                 f'concept-right-{index}')
                    self._button('delete', 'Delete', lambda: self.store.remove(concept), f'concept-delete-{index}')

    @staticmethod
    def _button(icon: str, text: str, action: Any, marker: str) -> None:
        ui.button(icon=icon, on_click=action).props(f'flat dense round size=sm aria-label="{text}"') \
            .tooltip(text).mark(marker)

    def _edit(self, concept: ConceptConfig) -> None:
        open_concept_dialog(self.session, concept, on_close=self.grid.refresh)


def render(ctx: TabContext) -> None:
    ConceptsView(ctx.session)
