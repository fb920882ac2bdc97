"""The Help tab: the markdown pages of `docs/` with a table of contents."""
from __future__ import annotations

from nicegui import ui

from ot_nicegui.help_pages import headings, list_pages, page_href, read_page, with_anchors
from ot_nicegui.tabs.context import TabContext


def render(ctx: TabContext) -> None:
    pages = list_pages()
    state = {'page': ctx.help_page if ctx.help_page in pages else 'index'}

    @ui.refreshable
    def content() -> None:
        text = read_page(state['page'])
        if text is None:
            ui.label('This page does not exist.').props('role=alert')
            return
        with ui.row().classes('w-full items-start gap-6 ot-help'):
            with ui.column().classes('ot-help-nav gap-1').props('role=navigation aria-label="Help pages"'):
                ui.label('Pages').classes('text-sm font-medium uppercase opacity-70')
                for name, title in pages.items():
                    link = ui.link(title, page_href(name)).classes('text-sm').mark(f'help-page-{name}')
                    link.on('click.prevent', lambda n=name: show(n))
                    if name == state['page']:
                        link.props('aria-current=page').classes('font-bold')
                toc = headings(text)
                if toc:
                    ui.label('On this page').classes('text-sm font-medium uppercase opacity-70 mt-3')
                    for level, title, anchor in toc:
                        ui.link(title, f'#{anchor}').classes(f'text-sm {"pl-3" if level == 3 else ""}')
            ui.markdown(with_anchors(text), extras=['fenced-code-blocks', 'tables']) \
                .classes('ot-help-page grow min-w-0').mark('help-content')

    def show(name: str) -> None:
        state['page'] = name
        content.refresh()

    content()
