"""The paths a tool started from the browser may use: only those inside the server's browse roots.

The file picker lists nothing above the browse roots (`security.BrowseRoots`, set by
`OT_BROWSE_ROOTS`); a path typed into a tool's field, or sent by a client, is held to the same
folders before the tool runs, whoever asks (a local user or one behind a proxy with a login).
A model field may also name a hub repository (`owner/name`), which is not a path on this server.
"""
from __future__ import annotations

from collections.abc import Mapping

from modules.tools.pretrained import is_hub_name
from ot_nicegui.security import BrowseRoots


def outside_message(label: str, path: str, roots: BrowseRoots) -> str:
    return (f'{label}: {path} is outside the folders this server may open '
            f'({", ".join(str(r) for r in roots.roots)}; OT_BROWSE_ROOTS sets them)')


def refused_path(paths: Mapping[str, str | list[str]] | None = None,
                 models: Mapping[str, str] | None = None) -> str | None:
    """Why a tool may not run with these values (the first one outside the browse roots), or None.

    paths: field label -> a path or a list of paths; models: field label -> a model folder, file or
    hub name. Empty values are left to the tool, which says what is missing."""
    roots = BrowseRoots.from_environment()
    values = [(label, value) for label, given in (paths or {}).items()
              for value in ([given] if isinstance(given, str) else given)]
    values += [(label, value) for label, value in (models or {}).items() if not is_hub_name(value)]
    for label, value in values:
        if value.strip() and not roots.contains(value.strip()):
            return outside_message(label, value.strip(), roots)
    return None
