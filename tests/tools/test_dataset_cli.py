"""`python -m modules.cli.dataset` driven through `main(argv)` on generated images."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from modules.cli.dataset import main
from tests.tools.conftest import snapshot


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """a.png (two-line caption, mask), b.jpg (caption), c.png (nothing), sub/d.png (caption)."""
    root = tmp_path / 'images'
    (root / 'sub').mkdir(parents=True)
    for name, colour in (('a.png', 'red'), ('b.jpg', 'blue'), ('c.png', 'green'), ('sub/d.png', 'white')):
        Image.new('RGB', (40, 30), colour).save(root / name)
    (root / 'a.txt').write_text('a red apple\nfruit on a table', encoding='utf-8')
    (root / 'b.txt').write_text('a blue ball', encoding='utf-8')
    (root / 'sub' / 'd.txt').write_text('a red door', encoding='utf-8')
    Image.new('L', (40, 30), 255).save(root / 'a-masklabel.png')
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_shows_caption_and_mask_status_with_the_editors_filters(folder, capsys):
    rc, out, _ = run(capsys, 'list', str(folder))
    assert rc == 0 and out.splitlines() == ['a.png\tcaption\tmask\ta red apple', 'b.jpg\tcaption\t-\ta blue ball',
                                            'c.png\t-\t-\t']
    assert run(capsys, 'list', str(folder), '--include-subdirectories', '--caption-contains', 'RED')[1] \
        .splitlines() == ['a.png\tcaption\tmask\ta red apple', 'sub/d.png\tcaption\t-\ta red door']
    assert [line.split('\t')[0] for line in run(capsys, 'list', str(folder), '--missing', 'mask')[1].splitlines()] \
        == ['b.jpg', 'c.png']
    rc, out, _ = run(capsys, 'list', str(folder), '--missing', 'caption', '--json')
    assert rc == 0 and json.loads(out) == [{'image': 'c.png', 'has_caption': False, 'has_mask': False,
                                            'caption': None}]


def test_show_and_set_caption_keep_the_further_lines(folder, capsys):
    rc, out, _ = run(capsys, 'set-caption', str(folder), 'a.png', 'a green apple')
    assert rc == 0 and 'caption written' in out
    assert (folder / 'a.txt').read_text(encoding='utf-8') == 'a green apple\nfruit on a table'
    assert run(capsys, 'set-caption', str(folder), 'c.png', 'a plain square')[0] == 0
    assert run(capsys, 'show', str(folder), 'c.png')[1] == 'a plain square'
    assert run(capsys, 'show', str(folder), 'sub/d.png')[1] == 'a red door'
    assert not list(folder.rglob('*.tmp'))


def test_replace_changes_every_line_and_a_dry_run_writes_nothing(folder, capsys):
    before = snapshot(folder)
    rc, out, _ = run(capsys, 'replace', str(folder), 'a ', 'one ', '--include-subdirectories', '--dry-run')
    assert rc == 0 and out.splitlines()[-1] == '3 captions would change (nothing written)'
    assert snapshot(folder) == before
    rc, out, _ = run(capsys, 'replace', str(folder), 'A ', 'one ', '--ignore-case', '--caption-contains', 'apple')
    assert rc == 0 and out.splitlines() == ['a.png: one red apple', '1 captions changed']
    assert (folder / 'a.txt').read_text(encoding='utf-8') == 'one red apple\nfruit on one table'
    assert (folder / 'b.txt').read_text(encoding='utf-8') == 'a blue ball'  # filtered out
    # a regular expression with groups, anchored at each line; a plain replacement is taken as it is
    assert run(capsys, 'replace', str(folder), r'^(\w+) (\w+)', r'\2 \1', '--regex')[0] == 0
    assert (folder / 'a.txt').read_text(encoding='utf-8') == 'red one apple\non fruit one table'
    assert (folder / 'b.txt').read_text(encoding='utf-8') == 'blue a ball'
    assert run(capsys, 'replace', str(folder), 'ball', r'\1 $&')[0] == 0
    assert (folder / 'b.txt').read_text(encoding='utf-8') == r'blue a \1 $&'


def test_set_mask_stores_a_grey_png_of_the_images_size(folder, tmp_path, capsys):
    Image.new('RGB', (40, 30), (128, 128, 128)).save(tmp_path / 'mask.png')
    rc, out, _ = run(capsys, 'set-mask', str(folder), 'b.jpg', str(tmp_path / 'mask.png'))
    assert rc == 0 and 'mask written' in out
    with Image.open(folder / 'b-masklabel.png') as mask:
        assert mask.mode == 'L' and mask.size == (40, 30) and mask.getpixel((0, 0)) == 128


@pytest.mark.parametrize(('argv', 'message'), [
    (['list', '{folder}/nowhere'], 'does not exist'),
    (['set-caption', '{folder}', 'missing.png', 'x'], 'missing.png is not a training image'),
    (['set-caption', '{folder}', '../outside.png', 'x'], 'is not a training image'),
    (['set-caption', '{folder}', 'a-masklabel.png', 'x'], 'is not a training image'),
    (['set-caption', '{folder}', 'a.png', 'two\nlines'], 'a caption is one line'),
    (['replace', '{folder}', '(', 'x', '--regex'], 'is not a valid regular expression'),
    (['replace', '{folder}', 'red', r'\2', '--regex', '--include-subdirectories'], 'does not fit the pattern'),
    (['replace', '{folder}', '', 'x'], 'nothing to find'),
    (['replace', '{folder}', 'a', 'x', '--include-subdirectories'], 'cannot read the caption'),
    (['set-mask', '{folder}', 'a.png', '{folder}/small.png'], 'the mask is 20×10 but the image is 40×30'),
    (['set-mask', '{folder}', 'a.png', '{folder}/b.txt'], 'not a readable PNG'),
    (['set-mask', '{folder}', 'a.png', '{folder}/none.png'], 'cannot read the mask'),
])
def test_bad_input_prints_one_line_and_changes_no_file(folder, capsys, argv, message):
    Image.new('L', (20, 10)).save(folder / 'small.png')
    (folder / 'sub' / 'd.txt').write_bytes(b'\xff\xfe not utf-8')  # read before anything is written
    Image.new('RGB', (40, 30)).save(folder.parent / 'outside.png')
    before = snapshot(folder)
    rc, out, err = run(capsys, *[a.replace('{folder}', str(folder)) for a in argv])
    assert rc == 1 and out == '' and err.startswith('error: ') and err.count('\n') == 1 and message in err
    assert snapshot(folder) == before


def test_help_lists_the_commands_and_a_wrong_command_is_one_line(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    text = capsys.readouterr().out
    for command in ('list', 'show', 'set-caption', 'replace', 'set-mask'):
        assert command in text
    with pytest.raises(SystemExit) as exit_info:
        main(['lst', 'x'])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count('\n') == 1 and "invalid choice: 'lst'" in err
