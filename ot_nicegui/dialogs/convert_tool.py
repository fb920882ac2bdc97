"""The model converter: a base model, LoRA or embedding written in another format and data type.

The dialog's values are its own, prefilled from the current settings (model type, base model), so
the training config is never changed. The base model names the key layout of a LoRA or embedding,
and gives the other parts of a model whose input is a transformer-only file. The output formats offered follow the model type and what is
converted (`modules.tools.convert.output_formats`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import ui

from modules.config.enums import DataType, ModelFormat, ModelType, TrainingMethod
from modules.tools import convert as converter
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import option_label
from ot_nicegui.widgets.file_picker import path_row
from ot_nicegui.widgets.tool_runner import ToolRunner

METHOD_LABELS = {TrainingMethod.FINE_TUNE: 'Base model', TrainingMethod.LORA: 'LoRA',
                 TrainingMethod.EMBEDDING: 'Embedding'}
DTYPE_LABELS = {DataType.FLOAT_32: 'float32', DataType.FLOAT_16: 'float16', DataType.BFLOAT_16: 'bfloat16'}


def input_path(chosen: str) -> str:
    """A picked `model_index.json` stands for its diffusers folder."""
    path = Path(chosen.strip())
    return str(path.parent) if path.name == 'model_index.json' else chosen.strip()


def format_options(model_type, method) -> dict[ModelFormat, str]:
    return {fmt: option_label(fmt) for fmt in converter.output_formats(model_type, method)}


def open_convert_tool_dialog(session: ConfigSession) -> ui.dialog:
    config = session.config
    types = converter.convertible_model_types()
    model_type = ModelType(config.model_type) if ModelType(config.model_type) in types else types[0]
    state: dict[str, Any] = {
        'model_type': model_type, 'method': TrainingMethod.FINE_TUNE, 'input': '', 'dtype': DataType.FLOAT_16,
        'base': config.base_model_name or '', 'format': None, 'destination': '',
    }
    with dialog_frame('Convert model', 'convert-dialog', width='760px') as dialog:
        with ui.row().classes('w-full gap-2 no-wrap'):
            ui.select({t: option_label(t) for t in types}, value=model_type, label='Model type',
                      on_change=lambda e: _set('model_type', e.value)).classes('grow').mark('convert-model_type')
            ui.select(METHOD_LABELS, value=state['method'], label='What to convert',
                      on_change=lambda e: _set('method', e.value)).classes('w-40').mark('convert-method')
            ui.select(DTYPE_LABELS, value=state['dtype'], label='Output data type',
                      on_change=lambda e: state.update(dtype=e.value)).classes('w-40').mark('convert-dtype')
        path_row('Input (model folder, checkpoint, LoRA or embedding file)', '',
                 lambda e: state.update(input=input_path(e.value or '')), dirs_only=False).mark('convert-input')
        path_row('Base model (for a LoRA, an embedding or a transformer-only file)', state['base'],
                 lambda e: state.update(base=(e.value or '').strip()), dirs_only=False).mark('convert-base')
        formats = ui.select({}, label='Output format', on_change=lambda e: state.update(format=e.value)) \
            .classes('w-full').mark('convert-format')
        path_row('Output destination', '', lambda e: state.update(destination=(e.value or '').strip()),
                 dirs_only=False).mark('convert-destination')
        convert_button = ui.button('Convert', icon='transform').mark('convert-run')
        runner = ToolRunner('convert')

        def refresh() -> None:
            options = format_options(state['model_type'], state['method'])
            formats.set_options(options, value=state['format'] if state['format'] in options else
                                next(iter(options), None))
            state['format'] = formats.value

        def _set(key: str, value: Any) -> None:
            state[key] = value
            refresh()

        async def run() -> None:
            request = converter.ConvertRequest(
                model_type=state['model_type'], training_method=state['method'], input_name=state['input'],
                output_model_format=state['format'] or '', output_model_destination=state['destination'],
                output_dtype=state['dtype'], base_model_name=state['base'])
            convert_button.disable()
            try:
                await runner.run(converter.convert, request, paths={'Output destination': request.output_model_destination},
                                 models={'Input': request.input_name, 'Base model': request.base_model_name})
            finally:
                convert_button.enable()

        convert_button.on_click(run)
        refresh()
    return dialog
