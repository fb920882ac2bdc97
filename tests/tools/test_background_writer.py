"""The background writer of caption files: whole files only, bounded, errors reach the caller."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modules.tools import background_writer
from modules.tools.background_writer import BackgroundWriter, write_text_atomic
from modules.tools.captioning import CaptionRequest, generate_captions
from modules.tools.task import ToolError, ToolTask


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob('*.tmp'))


def test_every_file_handed_over_is_written_before_the_block_ends(tmp_path):
    (tmp_path / 'b').mkdir()
    files = [(tmp_path / f'{i}.txt', f'caption {i}') for i in range(20)] + [(tmp_path / 'b' / 'x.txt', 'sub')]
    (tmp_path / '3.txt').write_text('old')
    with BackgroundWriter(threads=3, depth=4) as writer:
        for start in range(0, len(files), 5):
            writer.put(files[start:start + 5])
    assert all(path.read_text(encoding='utf-8') == text for path, text in files)
    assert leftovers(tmp_path) == []


def test_a_failed_write_reaches_the_caller_and_leaves_the_old_file(tmp_path):
    (tmp_path / 'taken.txt').mkdir()  # a folder where the file should go: the rename fails
    (tmp_path / 'taken.txt' / 'inside').write_text('keep')
    with pytest.raises(ToolError, match=r'cannot write .*taken\.txt'):
        write_text_atomic(tmp_path / 'taken.txt', 'new')
    assert (tmp_path / 'taken.txt' / 'inside').read_text() == 'keep' and leftovers(tmp_path) == []
    with pytest.raises(ToolError, match='cannot write'), BackgroundWriter(threads=1) as writer:
        writer.put([(tmp_path / 'taken.txt', 'new')])
    # what comes after a failure is dropped: the writing stops at the first failed file
    writer = BackgroundWriter(threads=1, depth=1)
    with pytest.raises(ToolError, match='cannot write'):
        writer.put([(tmp_path / 'taken.txt', 'new')] + [(tmp_path / f'late{i}.txt', 'late') for i in range(5)])
        writer.close()
    assert list(tmp_path.glob('late*')) == []


def test_the_queue_is_bounded(tmp_path, monkeypatch):
    release = threading.Event()
    written = []

    def slow_write(path, text):
        release.wait()
        written.append(path.name)

    monkeypatch.setattr(background_writer, 'write_text_atomic', slow_write)
    writer = BackgroundWriter(threads=1, depth=2)
    feeder = threading.Thread(target=writer.put, args=([(tmp_path / f'{i}.txt', '') for i in range(6)],))
    feeder.start()
    feeder.join(0.5)
    assert feeder.is_alive()  # one file being written and two queued: the caller waits for room
    release.set()
    feeder.join()
    writer.close()
    assert written == [f'{i}.txt' for i in range(6)]


def test_a_caption_that_cannot_be_written_stops_the_run(image_folder):
    (image_folder / 'red.txt').mkdir()  # red.png's caption path is taken by a folder
    request = CaptionRequest('BLIP', str(image_folder), batch_size=1, mode='replace')
    with pytest.raises(ToolError, match=r'cannot write .*red\.txt'):
        generate_captions(ToolTask(on_log=lambda text: None), request, lambda images, initial: ['x'] * len(images))
    assert (image_folder / 'red.txt').is_dir() and leftovers(image_folder) == []
