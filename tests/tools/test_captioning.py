"""Batch captioning through its CLI: modes on disk, WD14 tags, batching, refusals that change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from modules.cli.caption import main
from modules.tools.captioning import CaptionRequest, generate_captions
from modules.tools.task import ToolTask
from tests.tools.conftest import open_tool, set_value, snapshot, status_after_run


def captions(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding='utf-8') for p in sorted(folder.rglob('*.txt'))}


def test_blip_fills_missing_captions_and_continues_the_initial_caption(blip_model, image_folder, capsys):
    (image_folder / 'red.txt').write_text('kept as it is')
    rc = main(['--model', 'BLIP', '--model-name', str(blip_model), '--sample-dir', str(image_folder),
               '--initial-caption', 'a photo of', '--caption-prefix', 'pre, ', '--caption-postfix', ', post'])
    assert rc == 0 and '1 captions written' in capsys.readouterr().out
    written = captions(image_folder)
    assert written['red.txt'] == 'kept as it is'
    assert written['blue.txt'].startswith('pre, a photo of ') and written['blue.txt'].endswith(', post')
    assert len(written['blue.txt'].split()) > 5  # the model added words after the initial caption
    assert 'sub/green.txt' not in written  # not recursive unless asked


def test_replace_rewrites_and_add_appends_a_line(blip_model, image_folder):
    (image_folder / 'red.txt').write_text('old caption\n')
    args = ['--model', 'BLIP', '--model-name', str(blip_model), '--sample-dir', str(image_folder),
            '--include-subdirectories']
    assert main([*args, '--mode', 'replace']) == 0
    replaced = captions(image_folder)
    assert set(replaced) == {'red.txt', 'blue.txt', 'sub/green.txt'}
    assert 'old caption' not in replaced['red.txt'] and '\n' not in replaced['red.txt']
    assert main([*args, '--mode', 'add', '--caption-prefix', 'more: ']) == 0
    added = captions(image_folder)
    for name, first in replaced.items():
        lines = added[name].split('\n')
        assert lines[0] == first and lines[1].startswith('more: ') and len(lines) == 2


def test_a_batch_captions_as_one_image_at_a_time(blip_model, image_folder):
    def run(batch_size: int) -> dict[str, str]:
        for p in image_folder.rglob('*.txt'):
            p.unlink()
        request = CaptionRequest('BLIP', str(image_folder), model_name=str(blip_model), mode='replace',
                                 include_subdirectories=True, batch_size=batch_size, max_new_tokens=6)
        assert generate_captions(ToolTask(on_log=lambda text: None), request) == 3
        return captions(image_folder)

    assert run(3) == run(1)


def test_the_model_is_called_once_per_batch(image_folder):
    calls = []

    def captioner(images, initial):
        calls.append(len(images))
        return [f'{image.getpixel((0, 0))}' for image in images]

    request = CaptionRequest('BLIP', str(image_folder), include_subdirectories=True, batch_size=2)
    assert generate_captions(ToolTask(on_log=lambda text: None), request, captioner) == 3
    assert calls == [2, 1]
    assert captions(image_folder)['red.txt'] == '(255, 0, 0)'


def test_blip2_captions_with_and_without_an_initial_caption(blip2_model, image_folder):
    args = ['--model', 'BLIP2', '--model-name', str(blip2_model), '--sample-dir', str(image_folder), '--dtype',
            'FLOAT_32']
    assert main(args) == 0
    plain = captions(image_folder)
    assert set(plain) == {'red.txt', 'blue.txt'} and all(text.strip() for text in plain.values())
    assert main([*args, '--mode', 'replace', '--initial-caption', 'a photo of']) == 0
    assert all(text.startswith('a photo of') and len(text) > len('a photo of') + 1
               for text in captions(image_folder).values())


def test_florence2_writes_a_detailed_caption_for_each_image_of_a_batch(florence2_model, image_folder):
    request = CaptionRequest('FLORENCE_2', str(image_folder), model_name=str(florence2_model), batch_size=2,
                             max_new_tokens=6, include_subdirectories=True, postfix='.')
    assert generate_captions(ToolTask(on_log=lambda text: None), request) == 3
    written = captions(image_folder)
    assert set(written) == {'red.txt', 'blue.txt', 'sub/green.txt'}
    assert all(text.endswith('.') and len(text) > 3 for text in written.values())
    one_by_one = CaptionRequest('FLORENCE_2', str(image_folder), model_name=str(florence2_model), batch_size=1,
                                max_new_tokens=6, include_subdirectories=True, postfix='.', mode='replace')
    generate_captions(ToolTask(on_log=lambda text: None), one_by_one)
    assert captions(image_folder) == written  # a batch captions as single images do


def test_a_cancel_keeps_the_captions_of_finished_batches(image_folder):
    from modules.tools.task import ToolCancelled

    task = ToolTask(on_log=lambda text: None)

    def captioner(images, initial):
        task.cancel()  # asked while the first batch runs: it is finished and kept, the next never starts
        return ['done'] * len(images)

    request = CaptionRequest('BLIP', str(image_folder), include_subdirectories=True, batch_size=2)
    with pytest.raises(ToolCancelled):
        generate_captions(task, request, captioner)
    assert captions(image_folder) == {'blue.txt': 'done', 'red.txt': 'done'}


def test_wd14_writes_the_tags_above_each_threshold(wd14_model, image_folder):
    args = ['--model', 'WD14_VIT_2', '--model-name', str(wd14_model), '--sample-dir', str(image_folder)]
    assert main(args) == 0
    written = captions(image_folder)
    # red scores "hero (character)" at 0.996 (above 0.85) and "red theme"; ratings are never written
    assert written['red.txt'] == 'hero (character), red theme'
    assert written['blue.txt'] == 'blue theme'
    assert main([*args, '--mode', 'replace', '--character-threshold', '0.998']) == 0
    assert captions(image_folder)['red.txt'] == 'red theme'


@pytest.mark.parametrize('case', ['missing folder', 'unreadable image', 'broken model', 'not cached',
                                  'initial caption for WD14'])
def test_bad_input_is_one_line_and_changes_nothing(case, blip_model, wd14_model, image_folder, tmp_path, capsys):
    (image_folder / 'red.txt').write_text('old')
    folder, model, name, extra = image_folder, 'BLIP', str(blip_model), []
    if case == 'missing folder':
        folder = tmp_path / 'nowhere'
    elif case == 'unreadable image':
        (image_folder / 'broken.png').write_bytes(b'not an image')
    elif case == 'broken model':
        name = str(tmp_path / 'empty-model')
        Path(name).mkdir()
    elif case == 'not cached':
        name = 'someone/never-downloaded'
    else:
        model, name, extra = 'WD14_VIT_2', str(wd14_model), ['--initial-caption', 'a photo']
    before = snapshot(image_folder)
    rc = main(['--model', model, '--model-name', name, '--sample-dir', str(folder), '--mode', 'replace', *extra])
    error = capsys.readouterr().err
    lines = error.strip().splitlines()  # a model's loading progress may come first
    assert rc == 1 and lines[-1].startswith('error: ') and error.count('error: ') == 1
    expected = {'missing folder': 'does not exist', 'unreadable image': 'cannot read the image',
                'broken model': 'could not be loaded', 'not cached': 'is not in the local cache',
                'initial caption for WD14': 'does not continue an initial caption'}[case]
    assert expected in error
    assert snapshot(image_folder) == before


def test_help_lists_onetrainers_arguments(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    text = capsys.readouterr().out
    for option in ('--model', '--sample-dir', '--initial-caption', '--caption-prefix', '--caption-postfix',
                   '--mode', '--device', '--dtype', '--include-subdirectories'):
        assert option in text


# ---- the dialog ----------------------------------------------------------------------------------
async def test_the_dialog_captions_a_folder_with_wd14(ui_data_dir, user, wd14_model, image_folder):
    await open_tool(user, 'Batch captioning', 'caption-tool-dialog')
    set_value(user, 'caption-tool-model', 'WD14_VIT_2')
    with user:
        (initial,) = user.find(marker='caption-tool-initial').elements
    assert not initial.enabled  # the tagger does not continue a caption
    user.find(marker='caption-tool-model-name').clear().type(str(wd14_model))
    user.find(marker='caption-tool-folder').clear().type(str(image_folder))
    user.find(marker='caption-tool-prefix').clear().type('photo, ')
    set_value(user, 'caption-tool-subfolders', True)
    user.find(marker='caption-tool-create').click()
    assert await status_after_run(user, 'captioning') == 'Done'
    assert captions(image_folder) == {'red.txt': 'photo, hero (character), red theme', 'blue.txt': 'photo, blue theme',
                                      'sub/green.txt': 'photo, '}


async def test_the_dialog_stops_on_a_missing_folder_and_writes_nothing(ui_data_dir, user, wd14_model, image_folder):
    await open_tool(user, 'Batch captioning', 'caption-tool-dialog')
    user.find(marker='caption-tool-folder').clear().type(str(image_folder / 'nowhere'))
    user.find(marker='caption-tool-create').click()
    status = await status_after_run(user, 'captioning')
    assert status == f'Stopped: the folder {image_folder / "nowhere"} does not exist'
    assert captions(image_folder) == {}
