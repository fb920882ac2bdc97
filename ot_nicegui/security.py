"""Keeping browser-supplied paths inside their folders.

Routes that serve files (sample images, previews) and the server-side file picker take paths
from the browser. Every such path is resolved (symlinks included) and checked against its root
with `modules.config.presets.contained_path`, the same check the preset store uses.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from modules.config.base import ConfigError
from modules.config.presets import contained_path

BROWSE_ROOTS_ENV = 'OT_BROWSE_ROOTS'
IMAGE_SUFFIXES = frozenset({'.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp'})


def contained_file(root: str | os.PathLike, relative: str,
                   suffixes: Iterable[str] | None = None) -> Path | None:
    """The existing file `root/relative`, or None when it is outside `root`, hidden, missing or of
    another kind than `suffixes` allows."""
    if not isinstance(relative, str) or '\0' in relative or '\\' in relative:
        return None
    if any(part.startswith('.') for part in Path(relative).parts):
        return None  # hidden files and any '..' component
    try:
        path = contained_path(root, relative)
    except (ConfigError, OSError, ValueError):
        return None
    if suffixes is not None and path.suffix.lower() not in {s.lower() for s in suffixes}:
        return None
    return path if path.is_file() else None


def add_file_route(url_path: str, root: Callable[[], str | os.PathLike] | str | os.PathLike,
                   suffixes: Iterable[str] | None = IMAGE_SUFFIXES) -> None:
    """Serve the files below `root` (a folder, or a function returning the current one, e.g. the
    workspace's samples folder) at `url_path/<relative path>`. Anything else answers 404, so a
    probe cannot tell a forbidden file from a missing one. Call inside `main()`."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse
    from nicegui import app

    allowed = frozenset(suffixes) if suffixes is not None else None
    prefix = url_path.rstrip('/')

    @app.get(prefix + '/{relative:path}', include_in_schema=False)
    def serve(relative: str) -> FileResponse:
        base = root() if callable(root) else root
        path = contained_file(base, relative, allowed)
        if path is None:
            raise HTTPException(status_code=404)
        return FileResponse(path, headers={'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff'})


class BrowseRoots:
    """The folders a server-side file picker may show; nothing above them is reachable."""

    def __init__(self, roots: Iterable[str | os.PathLike]):
        self.roots = [Path(r).expanduser().resolve() for r in roots]
        if not self.roots:
            raise ValueError('at least one root folder is needed')

    @classmethod
    def from_environment(cls, default: Iterable[str | os.PathLike] = ()) -> BrowseRoots:
        """Roots from `OT_BROWSE_ROOTS` (separated like PATH), else `default`, else the working
        folder and the home folder."""
        configured = [r for r in os.environ.get(BROWSE_ROOTS_ENV, '').split(os.pathsep) if r.strip()]
        return cls(configured or list(default) or [Path.cwd(), Path.home()])

    def root_of(self, path: str | os.PathLike) -> Path | None:
        """The root that contains `path` (after resolving symlinks and '..'), or None."""
        try:
            target = Path(path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        for root in self.roots:
            if target == root or root in target.parents:
                return root
        return None

    def contains(self, path: str | os.PathLike) -> bool:
        return self.root_of(path) is not None

    def clamp(self, path: str | os.PathLike) -> Path:
        """`path` (resolved) when it is inside a root, else the first root."""
        return Path(path).expanduser().resolve() if self.contains(path) else self.roots[0]

    def parent(self, folder: str | os.PathLike) -> Path:
        """The folder above `folder`, stopping at its root."""
        current = self.clamp(folder)
        root = self.root_of(current)
        return current if current == root else current.parent
