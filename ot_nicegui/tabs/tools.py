"""The Tools tab: stand-alone tools. Only tools that are installed are listed."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.tabs.context import TabContext


@dataclass(frozen=True)
class Tool:
    title: str
    description: str
    open: Callable[[ConfigSession], object]


def _open_profiling(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.profiling import open_profiling_dialog

    return open_profiling_dialog(session)


def _open_sampling(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.sample_tool import open_sample_tool_dialog

    return open_sample_tool_dialog(session)


def _open_convert(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.convert_tool import open_convert_tool_dialog

    return open_convert_tool_dialog(session)


def _open_video(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.video_tool import open_video_tool_dialog

    return open_video_tool_dialog(session)


def _open_captioning(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.caption_tool import open_caption_tool_dialog

    return open_caption_tool_dialog(session)


def _open_masking(session: ConfigSession) -> object:
    from ot_nicegui.dialogs.mask_tool import open_mask_tool_dialog

    return open_mask_tool_dialog(session)


TOOLS: list[Tool] = [
    Tool('Profiling', "This process's CPU and memory use, and the stack of every thread (for a run that hangs).",
         _open_profiling),
    Tool('Sampling', 'Render prompts from a base model, with or without LoRA files, and compare LoRAs side by side.',
         _open_sampling),
    Tool('Convert model', 'Write a base model, LoRA or embedding in another format or data type.', _open_convert),
    Tool('Video tools', 'Cut videos into clips, take still images from them, or download videos with yt-dlp.',
         _open_video),
    Tool('Batch captioning', 'Caption every image of a folder with BLIP, BLIP-2, Florence-2 or the WD14 tagger.',
         _open_captioning),
    Tool('Batch masking', 'Mask every image of a folder with ClipSeg, Rembg, a segmentation model or a colour.',
         _open_masking),
]


def register_tool(title: str, description: str, opener: Callable[[ConfigSession], object]) -> None:
    """Add a tool to the tab (called at start-up by the module that provides the tool)."""
    if all(t.title != title for t in TOOLS):
        TOOLS.append(Tool(title, description, opener))


def render(ctx: TabContext) -> None:
    with ui.column().classes('w-full gap-3'):
        if not TOOLS:
            ui.label('No tools are installed in this version.').classes('text-sm opacity-80')
        for tool in TOOLS:
            with ui.card().classes('w-full').props('flat bordered'):
                with ui.row().classes('w-full items-center'):
                    with ui.column().classes('grow gap-0'):
                        ui.label(tool.title).classes('text-base font-medium').props('role=heading aria-level=3')
                        ui.label(tool.description).classes('text-sm opacity-80')
                    ui.button('Open', on_click=lambda t=tool: t.open(ctx.session)) \
                        .props(f'aria-label="Open {tool.title}"').mark(f'open-tool-{tool.title.lower()}')
