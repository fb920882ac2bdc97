"""The markdown pages of `docs/` as the Help tab shows them: titles, contents, links.

Page names come from links and the URL, so a name is only ever looked up among the files that
exist in the docs folder; nothing outside it can be read.
"""
from __future__ import annotations

import re
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[1] / 'docs'
_HEADING = re.compile(r'^(#{1,3})\s+(.+?)\s*#*\s*$')
_PAGE_LINK = re.compile(r'\]\((?!https?:|/|#)([A-Za-z0-9_.-]+)\.md(#[A-Za-z0-9_-]+)?\)')


def list_pages(docs_dir: Path = DOCS_DIR) -> dict[str, str]:
    """Page name (file stem) -> title (its first heading), index first, then by title."""
    pages = {}
    for path in sorted(docs_dir.glob('*.md')):
        pages[path.stem] = page_title(path.read_text(encoding='utf-8'), path.stem)
    return dict(sorted(pages.items(), key=lambda kv: (kv[0] != 'index', kv[1].lower())))


def page_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(2)
    return fallback.replace('-', ' ').replace('_', ' ').capitalize()


def read_page(name: str, docs_dir: Path = DOCS_DIR) -> str | None:
    """The markdown of page `name`, or None when there is no such page (any path trick included)."""
    available = {path.stem: path for path in docs_dir.glob('*.md')}
    path = available.get(name)
    return path.read_text(encoding='utf-8') if path is not None else None


def _lines_with_headings(text: str):
    """Each line with its ## / ### heading match (None elsewhere and inside code blocks)."""
    in_code = False
    for line in text.splitlines():
        if line.startswith('```'):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        yield line, match if match and len(match.group(1)) > 1 else None


def headings(text: str) -> list[tuple[int, str, str]]:
    """(level, title, anchor) of the ## and ### headings, for the table of contents."""
    return [(len(m.group(1)), m.group(2), slug(m.group(2))) for _, m in _lines_with_headings(text) if m]


def slug(title: str) -> str:
    return re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')


def page_href(name: str, anchor: str = '') -> str:
    # a query-only link stays on the app's own path, also behind a reverse-proxy prefix
    return f'?tab=help&doc={name}{anchor}'


SCREENSHOTS_ROUTE = 'ot-docs/screenshots'  # relative: stays under a reverse-proxy prefix
_SCREENSHOT = re.compile(r'\]\(screenshots/([A-Za-z0-9_.-]+\.jpg)\)')


def with_anchors(text: str) -> str:
    """Give ## and ### headings ids (for the table of contents), point `page.md` links at the
    Help tab and screenshots at their route."""
    text = _PAGE_LINK.sub(lambda m: f']({page_href(m.group(1), m.group(2) or "")})', text)
    text = _SCREENSHOT.sub(lambda m: f']({SCREENSHOTS_ROUTE}/{m.group(1)})', text)
    out = []
    for line, match in _lines_with_headings(text):
        if match:
            out.append(f'<a id="{slug(match.group(2))}"></a>\n')
        out.append(line)
    return '\n'.join(out)
