"""The batch masking dialog: a model, a folder, prompts, threshold / smooth / expand / alpha and a mode."""
from __future__ import annotations

import dataclasses

from nicegui import ui

from modules.tools.masking import MODELS, MODES, MaskRequest, generate_masks
from modules.tools.pretrained import default_device
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.dialogs.request_fields import request_setter
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.file_picker import path_row
from ot_nicegui.widgets.tool_runner import ToolRunner


def open_mask_tool_dialog(session: ConfigSession | None = None, folder: str = '') -> ui.dialog:
    request = MaskRequest(model='CLIPSEG', folder=folder, device=default_device())
    with dialog_frame('Batch generate masks', 'mask-tool-dialog', width='640px') as dialog:
        with ui.row().classes('w-full no-wrap gap-2'):
            model = ui.select({key: info.title for key, info in MODELS.items()}, value=request.model, label='Model') \
                .classes('w-56').mark('mask-tool-model')
            model_name = ui.input('Model folder, ONNX file or hub name', placeholder=MODELS[request.model].default_model,
                                  on_change=request_setter(request, 'model_name')).classes('grow') \
                .tooltip('A local folder (an ONNX file for Rembg), or a hub name already downloaded; '
                         'empty: the usual checkpoint').mark('mask-tool-model-name')
        path_row('Folder', folder, request_setter(request, 'folder'), dirs_only=True).mark('mask-tool-folder')
        prompt = ui.input('Prompt', placeholder=MODELS[request.model].prompt_hint,
                          on_change=lambda e: setattr(request, 'prompts', (e.value or '').split(','))) \
            .classes('w-full').tooltip('Several prompts separated by commas; a pixel is masked for any of them') \
            .mark('mask-tool-prompt')
        with ui.row().classes('w-full items-center gap-2'):
            ui.select(MODES, value=request.mode, label='Mode', on_change=request_setter(request, 'mode')) \
                .classes('w-56').mark('mask-tool-mode')
            ui.switch('Include subfolders', on_change=request_setter(request, 'include_subdirectories', bool)) \
                .mark('mask-tool-subfolders')
        with ui.row().classes('w-full gap-2'):
            ui.number('Threshold', value=request.threshold, min=0, max=1, step=0.05,
                      on_change=request_setter(request, 'threshold', float)).classes('w-28') \
                .tooltip('0.0 - 1.0; for a colour the tolerance').mark('mask-tool-threshold')
            ui.number('Smooth', value=request.smooth_pixels, min=0, step=1, format='%d',
                      on_change=request_setter(request, 'smooth_pixels', int)).classes('w-24') \
                .tooltip('Pixels over which the edge fades').mark('mask-tool-smooth')
            ui.number('Expand', value=request.expand_pixels, min=0, step=1, format='%d',
                      on_change=request_setter(request, 'expand_pixels', int)).classes('w-24') \
                .tooltip('Pixels the mask grows by').mark('mask-tool-expand')
            ui.number('Alpha', value=request.alpha, min=0, max=1, step=0.1,
                      on_change=request_setter(request, 'alpha', float)).classes('w-24') \
                .tooltip('Weight of the new mask when adding, subtracting or blending').mark('mask-tool-alpha')

        def model_changed(event) -> None:
            request.model = event.value
            info = MODELS[event.value]
            model_name.props(f'placeholder="{info.default_model}"')
            model_name.set_enabled(bool(info.default_model))
            prompt.props(f'placeholder="{info.prompt_hint}"')

        model.on_value_change(model_changed)
        runner = ToolRunner('masking')

        async def create() -> None:
            await runner.run(generate_masks, dataclasses.replace(request, prompts=list(request.prompts)),
                             uses_gpu=request.device.startswith('cuda') and request.model != 'COLOR',
                             paths={'Folder': request.folder}, models={'Model': request.model_name})

        ui.button('Create masks', icon='gradient', on_click=create).mark('mask-tool-create')
    return dialog
