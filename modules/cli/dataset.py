"""The dataset editor's jobs from a script: list a folder's images, read and set captions, find and
replace in captions, store a mask.

    python -m modules.cli.dataset list FOLDER [--include-subdirectories] [--caption-contains TEXT]
        [--missing caption|mask] [--json]
    python -m modules.cli.dataset show FOLDER IMAGE
    python -m modules.cli.dataset set-caption FOLDER IMAGE CAPTION
    python -m modules.cli.dataset replace FOLDER FIND REPLACEMENT [--regex] [--ignore-case]
        [--include-subdirectories] [--caption-contains TEXT] [--dry-run]
    python -m modules.cli.dataset set-mask FOLDER IMAGE MASK.png

IMAGE is the image's path relative to FOLDER (as `list` prints it). Every write is atomic, and a
command with bad input prints one line, exits with status 1 (2 for bad arguments) and changes no file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from modules.tools import dataset
from modules.tools.task import ToolError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the usage block: `--help` shows that."""
        self.exit(2, f'error: {message} (see {self.prog} --help)\n')


def _folder_arguments(parser: argparse.ArgumentParser, filters: bool) -> None:
    parser.add_argument('--include-subdirectories', action='store_true', help='the images of sub-folders too')
    if filters:
        parser.add_argument('--caption-contains', default='', metavar='TEXT',
                            help='only images whose caption contains TEXT (any case)')


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog='python -m modules.cli.dataset',
                     description="A folder of training images: the dataset editor's jobs without the page.")
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND', parser_class=_Parser)

    listing = commands.add_parser('list', help='the images with their caption and mask status',
                                  description='One line per image: the image, "caption" or "-", "mask" or "-", '
                                              "and the caption's first line (tab-separated), or JSON.")
    listing.add_argument('folder')
    _folder_arguments(listing, filters=True)
    listing.add_argument('--missing', choices=['caption', 'mask'], help='only images without a caption or mask')
    listing.add_argument('--json', action='store_true', help='a JSON list instead of lines')

    show = commands.add_parser('show', help="print an image's whole caption file")
    show.add_argument('folder')
    show.add_argument('image', help='relative to the folder')

    set_caption = commands.add_parser('set-caption', help="set an image's caption (its first line; other lines stay)")
    set_caption.add_argument('folder')
    set_caption.add_argument('image', help='relative to the folder')
    set_caption.add_argument('caption', help='one line')

    replace = commands.add_parser('replace', help='find and replace in the captions (every line of each file)')
    replace.add_argument('folder')
    replace.add_argument('find')
    replace.add_argument('replacement', help='with --regex, \\1 or \\g<name> insert a group')
    replace.add_argument('--regex', action='store_true', help='FIND is a regular expression (Python syntax)')
    replace.add_argument('--ignore-case', action='store_true')
    _folder_arguments(replace, filters=True)
    replace.add_argument('--dry-run', action='store_true', help='print what would change, write nothing')

    set_mask = commands.add_parser('set-mask', help="store a PNG as an image's mask (white = train)")
    set_mask.add_argument('folder')
    set_mask.add_argument('image', help='relative to the folder')
    set_mask.add_argument('mask', help='a PNG of the same size as the image')
    return parser


def _images(args: argparse.Namespace) -> tuple[Path, list[dataset.DatasetImage]]:
    root = dataset.open_folder(args.folder)
    images = dataset.scan(root, args.include_subdirectories)
    return root, dataset.filter_images(root, images, args.caption_contains, getattr(args, 'missing', None) or '')


def _list(args: argparse.Namespace) -> None:
    root, images = _images(args)
    if args.json:
        print(json.dumps([{'image': i.relative, 'has_caption': i.has_caption, 'has_mask': i.has_mask,
                           'caption': dataset.read_caption(root, i.relative) if i.has_caption else None}
                          for i in images], ensure_ascii=False, indent=1))
        return
    for image in images:
        caption = dataset.read_caption(root, image.relative) if image.has_caption else ''
        print('\t'.join([image.relative, 'caption' if image.has_caption else '-',
                         'mask' if image.has_mask else '-', caption]))


def _image_folder(args: argparse.Namespace) -> Path:
    """The folder, once IMAGE is checked to be one of its training images."""
    root = dataset.open_folder(args.folder)
    path = (root / args.image).resolve()
    if root not in path.parents or not path.is_file() or not dataset.is_training_image(path.name):
        raise ToolError(f'{args.image} is not a training image in {root}')
    return root


def _show(args: argparse.Namespace) -> None:
    print(dataset.caption_text(_image_folder(args), args.image), end='')


def _set_caption(args: argparse.Namespace) -> None:
    path = dataset.write_caption(_image_folder(args), args.image, args.caption)
    print(f'caption written: {path}')


def _replace(args: argparse.Namespace) -> None:
    root, images = _images(args)
    changes = dataset.caption_changes(root, images, args.find, args.replacement, args.regex, args.ignore_case)
    for change in changes:
        first = change.text.splitlines()[0] if change.text else ''
        print(f'{change.relative}: {first}')
    if args.dry_run:
        print(f'{len(changes)} captions would change (nothing written)')
        return
    print(f'{dataset.apply_caption_changes(changes)} captions changed')


def _set_mask(args: argparse.Namespace) -> None:
    root = _image_folder(args)
    try:
        png = Path(args.mask).read_bytes()
    except OSError as exc:
        raise ToolError(f'cannot read the mask {args.mask}: {exc.strerror or exc}') from None
    path = dataset.write_mask(root, args.image, png)
    print(f'mask written: {path}')


COMMANDS = {'list': _list, 'show': _show, 'set-caption': _set_caption, 'replace': _replace, 'set-mask': _set_mask}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ToolError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    except OSError as exc:  # a write the system refused (disk full, no permission)
        print(f'error: {exc.strerror or exc}: {exc.filename or ""}'.rstrip(': '), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
