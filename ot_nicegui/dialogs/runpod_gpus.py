"""RunPod's GPU types, fetched with the API key of the Cloud tab; choosing one sets the GPU of a new pod."""
from __future__ import annotations

from nicegui import run, ui

from ot_nicegui.dialogs.common import dialog_frame


def fetch_gpu_types(api_key: str) -> list:
    from modules.cloud.runpod import RunPodClient

    with RunPodClient(api_key) as client:
        return client.gpu_types()


def gpu_types_button(config) -> None:
    """The button beside the GPU field: lists RunPod's GPU types (type RUNPOD only)."""
    async def show() -> None:
        from modules.cloud.errors import CloudError

        if str(config.cloud.type) != 'RUNPOD':
            ui.notify('GPU types come from RunPod: choose the type RUNPOD', type='warning')
            return
        button.props('loading')
        try:
            types = await run.io_bound(fetch_gpu_types, config.secrets.cloud.api_key)
        except CloudError as exc:
            ui.notify(str(exc), type='negative', multi_line=True)
            return
        finally:
            button.props(remove='loading')
        _open(config, types)

    button = ui.button(icon='list', on_click=show).props('flat round aria-label="RunPod GPU types"') \
        .classes('mt-2').mark('cloud-gpu-types').tooltip('List the GPU types of RunPod (needs the API key)')


def _open(config, types: list) -> None:
    with dialog_frame('RunPod GPU types', 'runpod-gpu-dialog', width='520px') as dialog:
        if not types:
            ui.label('RunPod listed no GPU types.')
        with ui.list().props('dense separator').classes('w-full').style('max-height: 60vh; overflow-y: auto'):
            def chooser(gpu_id: str):
                def choose() -> None:
                    config.cloud.gpu_type = gpu_id
                    dialog.close()
                return choose

            for gpu in types:
                with ui.item(on_click=chooser(gpu.id)).mark(f'runpod-gpu-{gpu.id}'):
                    with ui.item_section():
                        ui.item_label(gpu.display_name)
                        ui.item_label(gpu.id).props('caption')
                    with ui.item_section().props('side'):
                        ui.item_label(f'{gpu.memory_gb} GB')
    dialog.open()
