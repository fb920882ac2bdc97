"""The sampling tool: render prompts from a base model with or without LoRA files, side by side.

Model type, base model and weight dtype are the tool's own (a copy of the current settings, so the
training config is never changed); the sample settings are the Sampling tab's sample form. Each
line of the prompt is one row of the comparison grid, each LoRA file (and "no LoRA") one column.
Images and their JSON sidecars go to the data folder's `samples/`; the model stays loaded between
renders (`modules.tools.sampling.MODEL_CACHE`) until "Unload model".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import ui

from modules.config.enums import DataType, ModelType
from modules.config.sample_config import SampleConfig
from modules.tools import sampling
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.dialogs.sample import sample_fields
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input
from ot_nicegui.widgets.file_picker import path_row
from ot_nicegui.widgets.tool_runner import ToolRunner

SAMPLES_FOLDER = 'samples'
WEIGHT_DTYPES = (DataType.FLOAT_32, DataType.BFLOAT_16, DataType.FLOAT_16)


class FileList:
    """An editable list of file paths (LoRA or embedding files), each with a browse button."""

    def __init__(self, title: str, item: str, marker: str):
        self.title, self.item, self.marker = title, item, marker
        self.paths: list[str] = []
        with ui.column().classes('w-full gap-0'):
            with ui.row().classes('w-full items-center'):
                ui.label(title).classes('text-sm font-medium')
                ui.button(f'Add {item}', icon='add', on_click=self.add) \
                    .props('flat dense no-caps').mark(f'{marker}-add')
            self.rows = ui.column().classes('w-full gap-0')

    def add(self, value: str = '') -> None:
        index = len(self.paths)
        self.paths.append(value if isinstance(value, str) else '')
        with self.rows, ui.row().classes('w-full items-start no-wrap gap-1') as row:
            with ui.element('div').classes('grow'):
                field = path_row(f'{self.item[:1].upper()}{self.item[1:]} {index + 1}', self.paths[index],
                                 lambda e, i=index: self._set(i, e.value), dirs_only=False)
                field.mark(f'{self.marker}-{index}')
            ui.button(icon='delete', on_click=lambda i=index, r=row: self._remove(i, r)) \
                .props(f'flat dense round aria-label="Remove {self.item} {index + 1}"').classes('mt-3')

    def _set(self, index: int, value: Any) -> None:
        if index < len(self.paths) and self.paths[index] is not None:
            self.paths[index] = (value or '').strip()

    def _remove(self, index: int, row: ui.element) -> None:
        self.paths[index] = None  # keeps the other rows' indexes
        row.delete()

    def values(self) -> list[str]:
        return [p for p in self.paths if p]


def _caption(metadata: dict) -> str:
    return (f'seed {metadata["seed"]} · {metadata["steps"]} steps · cfg {metadata["cfg_scale"]:g} · '
            f'{metadata["sampler"]} · {metadata["seconds"]:.1f} s')


def _earlier_caption(metadata: dict) -> str:
    lora = Path(metadata['lora']).name if metadata.get('lora') else 'no LoRA'
    return f'{metadata.get("prompt", "")} · {lora} · seed {metadata.get("seed")} · {metadata.get("steps")} steps'


def _column_title(lora: str) -> str:
    return Path(lora).name if lora else 'no LoRA'


def show_grid(results: list[sampling.Rendered], loras: list[str], prompts: list[str]) -> ui.element:
    """Rows = prompts, columns = LoRA files; each image with its settings below it."""
    with ui.card().classes('w-full').props('flat bordered') as card:
        first = results[0].metadata
        ui.label(f'{ModelType[first["model_type"]].label} · {first["base_model"]} · {first["created"]}') \
            .classes('text-sm opacity-80').mark('sampling-grid-title')
        with ui.grid(columns=f'minmax(8rem, auto) repeat({len(loras)}, minmax(0, 1fr))') \
                .classes('w-full gap-2 items-start ot-sampling-grid').mark('sampling-grid'):
            ui.label('Prompt').classes('text-sm font-medium')
            for lora in loras:
                ui.label(_column_title(lora)).classes('text-sm font-medium break-all').mark('sampling-column')
            cells = {(r.row, r.column): r for r in results}
            for row, prompt in enumerate(prompts):
                ui.label(prompt).classes('text-sm break-words').mark('sampling-row')
                for column in range(len(loras)):
                    rendered = cells.get((row, column))
                    with ui.column().classes('gap-0'):
                        if rendered is None:
                            ui.label('not rendered').classes('text-sm opacity-60')
                            continue
                        ui.image(str(rendered.path)).classes('w-full').style('max-width: 512px').props(
                            f'alt="{prompt} — {_column_title(rendered.metadata["lora"])}"').mark('sampling-image')
                        ui.label(_caption(rendered.metadata)).classes('text-xs opacity-80') \
                            .mark('sampling-metadata')
    return card


def open_sample_tool_dialog(session: ConfigSession) -> ui.dialog:
    settings = session.config.copy()  # the tool's own model settings: the training config stays as it is
    sample = SampleConfig.for_model_type(settings.model_type)
    sample.prompt = ''
    out_dir = Path(session.data_dir) / SAMPLES_FOLDER
    device = sampling.usable_device(settings.train_device)
    state = {'dtype': DataType.FLOAT_32}
    def closed() -> None:
        if device.startswith('cuda'):  # GPU memory goes back for training; on the CPU the model stays for next time
            sampling.MODEL_CACHE.try_clear()

    with dialog_frame('Sampling', 'sampling-dialog', width='1200px', on_close=closed) as dialog:
        with ui.row().classes('w-full items-start gap-4 no-wrap'):
            with ui.column().classes('gap-1').style('flex: 1 1 0; min-width: 0'):
                field_input(settings, 'model_type').classes('w-full').mark('sampling-model_type')
                field_input(settings, 'base_model_name', label='Base model').classes('w-full') \
                    .mark('sampling-base_model')
                ui.select({d: getattr(d, 'label', d.name) for d in WEIGHT_DTYPES}, value=state['dtype'], label='Weight data type',
                          on_change=lambda e: state.update(dtype=e.value)).classes('w-full').mark('sampling-dtype')
                with_base = ui.checkbox('Include a "no LoRA" column', value=True).mark('sampling-with-base')
                loras = FileList('LoRA files', 'LoRA file', 'sampling-lora')
                embeddings = FileList('Embedding files', 'embedding file', 'sampling-embedding')
                ui.label('One embedding answers to <embedding> in the prompt, several to <file name>.') \
                    .classes('text-xs opacity-80')
            with ui.column().classes('gap-1').style('flex: 1 1 0; min-width: 0'):
                ui.label('Each line of the prompt is one row of the comparison grid.').classes('text-xs opacity-80')
                sample_fields(sample, settings, standalone=True)
        with ui.row().classes('w-full items-center'):
            render = ui.button('Render', icon='image').mark('sampling-render')
            ui.button('Unload model', icon='eject', on_click=lambda: _unload(runner)).props('flat') \
                .mark('sampling-unload')
            ui.label(f'Saved to {out_dir} · device {device}').classes('text-xs opacity-80')
        runner = ToolRunner('sampling')
        gallery = ui.column().classes('w-full gap-2').mark('sampling-gallery')
        earlier = sampling.recent_samples(out_dir)
        if earlier:
            with ui.expansion(f'Earlier samples ({len(earlier)} newest)').classes('w-full') \
                    .mark('sampling-earlier'):
                with ui.grid(columns='repeat(auto-fill, minmax(10rem, 1fr))').classes('w-full gap-2'):
                    for path, metadata in earlier:
                        with ui.column().classes('gap-0'):
                            ui.image(str(path)).classes('w-full').props(f'alt="{metadata.get("prompt", "")}"')
                            ui.label(_earlier_caption(metadata)).classes('text-xs break-words') \
                                .mark('sampling-earlier-caption')

        async def go() -> None:
            prompts = [line.strip() for line in sample.prompt.splitlines() if line.strip()]
            columns = ([sampling.NO_LORA] if with_base.value else []) + loras.values()
            if not prompts:
                ui.notify('Write a prompt first', type='warning')
                return
            if not columns:
                ui.notify('Add a LoRA file or include the "no LoRA" column', type='warning')
                return
            rows = []
            for prompt in prompts:
                row = sample.copy()
                row.prompt = prompt
                rows.append(row)
            key = sampling.BaseModel(settings.model_type, settings.base_model_name.strip(), state['dtype'],
                                     tuple(embeddings.values()), device, settings.text_encoder_layer_skip)
            render.disable()
            try:
                results = await runner.run(sampling.render_grid, sampling.MODEL_CACHE, key, columns, rows, out_dir,
                                           uses_gpu=device.startswith('cuda'), models={'Base model': key.base_model},
                                           paths={'LoRA files': loras.values(), 'Embedding files': embeddings.values()})
            finally:
                render.enable()
            if results:
                with gallery:
                    show_grid(results, columns, prompts).move(target_index=0)

        render.on_click(go)
    return dialog


def _unload(runner: ToolRunner) -> None:
    if runner.running or not sampling.MODEL_CACHE.try_clear():
        ui.notify('A render is using the model: unload it when the render has finished', type='warning')
        return
    ui.notify('Model unloaded')
