"""What the UI says when something goes wrong, in the user's words: no Python exception names,
no enum member names, no folders of the server. The whole error (its type and traceback) stays
available behind a "Details" button where one is offered; toasts and status lines get this text.
"""
from __future__ import annotations

import re
from enum import Enum

from modules.config import enums

# "OSError: ", "torch.OutOfMemoryError: ", "[Errno 2] " at the start of a message
_EXCEPTION_PREFIX = re.compile(r'^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Refused)\s*:\s*)+')
_ERRNO = re.compile(r'\[(?:Errno|WinError) -?\d+\]\s*')
# an absolute path of this machine (POSIX or Windows), quoted or bare
_PATH = re.compile(r"""(?P<q>['"]?)(?<![\w:/.])(?P<path>(?:/|[A-Za-z]:\\)[^\s'"]*[/\\][^\s'",;:)]+)(?P=q)""")
_MEMBER = re.compile(r'\b(?:(?P<cls>[A-Z][A-Za-z]+)\.)?(?P<name>[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b')
_BY_EXCEPTION = {
    'MemoryError': 'the machine ran out of memory',
    'OutOfMemoryError': 'the GPU ran out of memory: try a smaller batch size or resolution',
    'KeyboardInterrupt': 'interrupted',
}


def _enum_labels() -> dict[str, str]:
    """Member name -> label of every enum of the config whose members have one."""
    labels: dict[str, str] = {}
    for value in vars(enums).values():
        if isinstance(value, type) and issubclass(value, Enum) and value is not Enum:
            for member in value:
                label = getattr(member, 'label', None)
                if isinstance(label, str):
                    labels.setdefault(member.name, label)
    return labels


_LABELS = _enum_labels()


def _file_name(match: re.Match) -> str:
    name = re.split(r'[/\\]', match.group('path').rstrip('/\\'))[-1]
    return f'"{name}"'


def _label(match: re.Match) -> str:
    label = _LABELS.get(match.group('name'))
    return label if label is not None else match.group(0)


def plain_error(error: BaseException | str) -> str:
    """The message of `error` without its exception type, errno, enum member names and folders
    (a path shows as its last part); never empty."""
    if isinstance(error, BaseException):
        known = _BY_EXCEPTION.get(type(error).__name__)
        if known is not None:
            return known
        text = str(error)
        if isinstance(error, KeyError) and error.args:
            text = f'{error.args[0]} is missing'
    else:
        text = str(error)
    text = _EXCEPTION_PREFIX.sub('', text.strip())
    text = _ERRNO.sub('', text)
    text = _PATH.sub(_file_name, text)
    text = _MEMBER.sub(_label, text)
    text = text.strip()
    return text or 'an unexpected error (Details has more)'
