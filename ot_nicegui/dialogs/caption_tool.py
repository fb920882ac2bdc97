"""The batch captioning dialog: a model, a folder, the caption's parts and a mode, run with progress."""
from __future__ import annotations

import dataclasses

from nicegui import ui

from modules.tools.captioning import MODELS, MODES, CaptionRequest, generate_captions
from modules.tools.pretrained import default_device
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.dialogs.request_fields import request_setter
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.file_picker import path_row
from ot_nicegui.widgets.tool_runner import ToolRunner


def open_caption_tool_dialog(session: ConfigSession | None = None, folder: str = '') -> ui.dialog:
    request = CaptionRequest(model='BLIP', folder=folder, device=default_device())
    with dialog_frame('Batch generate captions', 'caption-tool-dialog', width='640px') as dialog:
        with ui.row().classes('w-full no-wrap gap-2'):
            model = ui.select({key: info.title for key, info in MODELS.items()}, value=request.model, label='Model') \
                .classes('w-48').mark('caption-tool-model')
            model_name = ui.input('Model folder or hub name', placeholder=MODELS[request.model].default_model,
                                  on_change=request_setter(request, 'model_name')).classes('grow') \
                .tooltip('A local folder, or a hub name already downloaded; empty: the usual checkpoint') \
                .mark('caption-tool-model-name')
        path_row('Folder', folder, request_setter(request, 'folder'), dirs_only=True).mark('caption-tool-folder')
        initial = ui.input('Initial caption', on_change=request_setter(request, 'initial_caption')) \
            .classes('w-full').tooltip('Every caption starts with this and the model continues it') \
            .mark('caption-tool-initial')
        with ui.row().classes('w-full no-wrap gap-2'):
            ui.input('Caption prefix', on_change=request_setter(request, 'prefix')).classes('grow') \
                .mark('caption-tool-prefix')
            ui.input('Caption postfix', on_change=request_setter(request, 'postfix')).classes('grow') \
                .mark('caption-tool-postfix')
        with ui.row().classes('w-full items-center gap-2'):
            ui.select(MODES, value=request.mode, label='Mode', on_change=request_setter(request, 'mode')) \
                .classes('w-48').mark('caption-tool-mode')
            ui.number('Batch size', value=request.batch_size, min=1, step=1, format='%d',
                      on_change=request_setter(request, 'batch_size', int)).classes('w-28').mark('caption-tool-batch')
            ui.switch('Include subfolders', on_change=request_setter(request, 'include_subdirectories', bool)) \
                .mark('caption-tool-subfolders')
        with ui.row().classes('w-full gap-2') as thresholds:
            ui.number('General tag threshold', value=request.general_threshold, min=0, max=1, step=0.05,
                      on_change=request_setter(request, 'general_threshold', float)).classes('w-44')
            ui.number('Character tag threshold', value=request.character_threshold, min=0, max=1, step=0.05,
                      on_change=request_setter(request, 'character_threshold', float)).classes('w-44')

        def model_changed(event) -> None:
            request.model = event.value
            info = MODELS[event.value]
            model_name.props(f'placeholder="{info.default_model}"')
            initial.set_enabled(info.takes_initial_caption)
            if not info.takes_initial_caption:
                initial.set_value('')
            thresholds.set_visibility(event.value == 'WD14_VIT_2')

        model.on_value_change(model_changed)
        thresholds.set_visibility(False)
        runner = ToolRunner('captioning')

        async def create() -> None:
            await runner.run(generate_captions, dataclasses.replace(request),
                             uses_gpu=request.device.startswith('cuda'), paths={'Folder': request.folder},
                             models={'Model': request.model_name})

        ui.button('Create captions', icon='subtitles', on_click=create).mark('caption-tool-create')
    return dialog
