"""Video tools: cut videos into clips, take still images from them, download videos with yt-dlp.

One tab per tool; below them the runner (progress, Cancel, log) and a preview of the last file
written. The input of the clip and image tools is a video or a folder (its videos, sub-folders
too); the time range applies to every video.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import ui

from modules.tools import video_tools
from modules.tools.task import ToolError
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.file_picker import path_row
from ot_nicegui.widgets.tool_runner import ToolRunner

YT_DLP_DOCS = 'https://github.com/yt-dlp/yt-dlp#usage-and-options'


def _number(label: str, value: float, marker: str, state: dict, key: str, *, minimum: float = 0,
            maximum: float | None = None, step: float = 0.1) -> ui.number:
    state[key] = value
    return ui.number(label, value=value, min=minimum, max=maximum, step=step,
                     on_change=lambda e: state.update({key: e.value})).classes('w-40').mark(marker)


def _switch(label: str, marker: str, state: dict, key: str) -> ui.switch:
    state[key] = False
    return ui.switch(label, on_change=lambda e: state.update({key: bool(e.value)})).mark(marker)


def _input_rows(name: str, state: dict) -> None:
    state.update(input='', output='', start='00:00:00', end=video_tools.END_OF_VIDEO)
    path_row('Video or folder of videos', '', lambda e: state.update(input=(e.value or '').strip()),
             dirs_only=False).mark(f'video-{name}-input')
    path_row('Output folder', '', lambda e: state.update(output=(e.value or '').strip()),
             dirs_only=True).mark(f'video-{name}-output')
    with ui.row().classes('w-full gap-2'):
        ui.input('From (h:m:s)', value=state['start'], on_change=lambda e: state.update(start=e.value or '0')) \
            .classes('w-40').mark(f'video-{name}-start')
        ui.input('To (h:m:s)', value=state['end'],
                 on_change=lambda e: state.update(end=e.value or video_tools.END_OF_VIDEO)) \
            .classes('w-40').mark(f'video-{name}-end')
        _switch('Output to sub-folders', f'video-{name}-subdirs', state, 'subdirs')


def _value(state: dict, key: str, name: str) -> float:
    value = state.get(key)
    if value is None:
        raise ToolError(f'{name} is empty')
    return float(value)


def open_video_tool_dialog(session: ConfigSession) -> ui.dialog:
    clips: dict[str, Any] = {}
    images: dict[str, Any] = {}
    download: dict[str, Any] = {'link': '', 'list': '', 'output': '', 'args': video_tools.DEFAULT_DOWNLOAD_ARGS}
    with dialog_frame('Video tools', 'video-dialog', width='860px') as dialog:
        with ui.tabs().classes('w-full') as tabs:
            clip_tab = ui.tab('Extract clips').mark('video-tab-clips')
            image_tab = ui.tab('Extract images').mark('video-tab-images')
            download_tab = ui.tab('Download').mark('video-tab-download')
        with ui.tab_panels(tabs, value=clip_tab, animated=False).classes('w-full'):
            with ui.tab_panel(clip_tab).classes('gap-2'):
                _input_rows('clips', clips)
                with ui.row().classes('w-full gap-2 items-center'):
                    _number('Max length (s)', 3.0, 'video-clips-length', clips, 'length', minimum=0.26)
                    _number('Frames per second (0: keep)', 24.0, 'video-clips-fps', clips, 'fps', step=1)
                    _number('Crop variation (0-1)', 0.2, 'video-clips-crop', clips, 'crop', maximum=1)
                with ui.row().classes('w-full gap-4'):
                    _switch('Split at scene cuts', 'video-clips-cuts', clips, 'cuts')
                    _switch('Remove borders', 'video-clips-borders', clips, 'borders')
                clip_button = ui.button('Extract clips', icon='movie').mark('video-clips-run')
            with ui.tab_panel(image_tab).classes('gap-2'):
                _input_rows('images', images)
                with ui.row().classes('w-full gap-2 items-center'):
                    _number('Images per second', 0.5, 'video-images-rate', images, 'rate', minimum=0.01)
                    _number('Blur removal (0-1)', 0.2, 'video-images-blur', images, 'blur', maximum=1)
                    _number('Crop variation (0-1)', 0.2, 'video-images-crop', images, 'crop', maximum=1)
                _switch('Remove borders', 'video-images-borders', images, 'borders')
                image_button = ui.button('Extract images', icon='photo_library').mark('video-images-run')
            with ui.tab_panel(download_tab).classes('gap-2'):
                ui.input('Link', on_change=lambda e: download.update(link=(e.value or '').strip())) \
                    .classes('w-full').mark('video-download-link')
                path_row('Or a list of links (text file, one a line)', '',
                         lambda e: download.update(list=(e.value or '').strip()), dirs_only=False) \
                    .mark('video-download-list')
                path_row('Output folder', '', lambda e: download.update(output=(e.value or '').strip()),
                         dirs_only=True).mark('video-download-output')
                ui.textarea('Additional yt-dlp arguments', value=download['args'],
                            on_change=lambda e: download.update(args=e.value or '')) \
                    .classes('w-full').props('autogrow').mark('video-download-args')
                with ui.row().classes('items-center gap-4'):
                    download_button = ui.button('Download', icon='download').mark('video-download-run')
                    ui.link('yt-dlp options', YT_DLP_DOCS, new_tab=True)
        runner = ToolRunner('video')
        with ui.row().classes('w-full items-center gap-3'):
            preview = ui.image().classes('w-40').props('fit=contain alt="Preview of the last output"') \
                .mark('video-preview')
            preview.set_visibility(False)
            caption = ui.label('').classes('text-sm opacity-80').mark('video-preview-caption')

        def show_last(written) -> None:
            if not written:
                return
            image, text = video_tools.preview(written[-1])
            preview.set_source(image)
            preview.set_visibility(True)
            caption.set_text(text)

        def clip_job(task) -> list[Path]:
            return video_tools.extract_clips(
                task, clips['input'], clips['output'], max_length=_value(clips, 'length', 'Max length'),
                fps=_value(clips, 'fps', 'Frames per second'), split_at_cuts=clips['cuts'],
                remove_borders=clips['borders'], crop_variation=_value(clips, 'crop', 'Crop variation'),
                start=clips['start'], end=clips['end'], output_subfolders=clips['subdirs'])

        def image_job(task) -> list[Path]:
            return video_tools.extract_images(
                task, images['input'], images['output'], images_per_second=_value(images, 'rate', 'Images per second'),
                blur_removal=_value(images, 'blur', 'Blur removal'), remove_borders=images['borders'],
                crop_variation=_value(images, 'crop', 'Crop variation'), start=images['start'], end=images['end'],
                output_subfolders=images['subdirs'])

        def download_job(task) -> list[Path]:
            if download['link'] and download['list']:
                raise ToolError('give a link or a list of links, not both')
            links = [download['link']] if download['link'] else video_tools.links_in(download['list'])
            return video_tools.download(task, links, download['output'],
                                        video_tools.download_arguments(download['args']))

        buttons = (clip_button, image_button, download_button)

        def paths_of(state: dict) -> dict[str, str]:
            if state is download:
                return {'List of links': download['list'], 'Output folder': download['output']}
            return {'Video or folder of videos': state['input'], 'Output folder': state['output']}

        async def run(job, state: dict) -> None:
            for button in buttons:
                button.disable()
            try:
                show_last(await runner.run(job, paths=paths_of(state)))
            finally:
                for button in buttons:
                    button.enable()

        clip_button.on_click(lambda: run(clip_job, clips))
        image_button.on_click(lambda: run(image_job, images))
        download_button.on_click(lambda: run(download_job, download))
    return dialog
