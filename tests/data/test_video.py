"""Video clips for video models: scanning, 24 fps frame maps, frame-count buckets, clip windows,
augmentations shared by every frame, latent caching, unreadable files."""

from collections import Counter

import pytest
import torch

from modules.data import TrainDataset
from modules.data.scan import list_images
from modules.data.video import FPS, UnreadableVideo, parse_frames, probe, read_clip, timeline

from .conftest import (
    VideoEncoder,
    four_k_plus_one,
    frame_numbers,
    make_concept,
    write_image,
    write_mask,
    write_video,
)


@pytest.fixture
def clips(tmp_path):
    """A long clip (13 frames), a short one (6), a still image and a corrupt 'video'."""
    folder = tmp_path / "clips"
    write_video(folder / "long.mp4", 13, seed=1)
    write_video(folder / "short.MOV", 6, seed=2)
    write_image(folder / "still.png", (48, 32), seed=3)
    (folder / "broken.mkv").write_bytes(b"\x1aE\xdf\xa3 definitely not a matroska file" * 8)
    for name in ("long", "short", "still", "broken"):
        (folder / f"{name}.txt").write_text(f"a {name} thing", encoding="utf-8")
    return folder


def video_config(make_config, **fields):
    return make_config(**{"model_type": "HUNYUAN_VIDEO", "frames": "9", "resolution": "48x32", **fields})


def prepared(config, concepts, warnings=None, **kw) -> TrainDataset:
    ds = TrainDataset(config, concepts, frame_count=four_k_plus_one,
                      on_warning=(warnings.append if warnings is not None else None), **kw)
    ds.prepare()
    return ds


def by_file(batches) -> dict[str, list]:
    """file name -> [(batch, row)] over the given batches."""
    found: dict[str, list] = {}
    for batch in batches:
        for row, path in enumerate(batch.image_paths):
            found.setdefault(path.rsplit("/", 1)[-1], []).append((batch, row))
    return found


def test_video_files_are_listed_only_for_video_models(clips):
    assert [p.name for p in list_images(clips, False)] == ["still.png"]
    assert [p.name for p in list_images(clips, False, videos=True)] == ["broken.mkv", "long.mp4", "short.MOV",
                                                                       "still.png"]


def test_image_models_ignore_videos(clips, make_config):
    ds = prepared(make_config(resolution="32"), [make_concept(clips)])
    batches = list(ds.epoch(0, 1))
    assert [b.image_paths[0].rsplit("/", 1)[-1] for b in batches] == ["still.png"]
    assert batches[0].pixels.shape == (1, 3, 24, 40) and batches[0].frames == 1


def test_probe_maps_any_frame_rate_to_24_fps(tmp_path):
    info = probe(write_video(tmp_path / "native.mp4", 10))
    assert info.size == (32, 48) and info.sources == tuple(range(10))
    slow = probe(write_video(tmp_path / "slow.mp4", 6, fps=12))
    assert slow.sources == (0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5)
    # 30 fps for one second: 24 frames, five of the thirty source frames are never shown
    fast = timeline([i / 30 for i in range(30)], 30.0)
    assert len(fast) == FPS and fast[:6] == (0, 1, 2, 3, 5, 6) and len(set(fast)) == 24
    with pytest.raises(UnreadableVideo, match="nothing.mp4"):
        probe(_write(tmp_path / "nothing.mp4", b"not a video"))


def test_frames_setting():
    assert parse_frames("25") == (25,) and parse_frames(" 9, 17") == (9, 17)
    for bad in ("", "x", "0"):
        with pytest.raises(ValueError, match="frames"):
            parse_frames(bad)


def test_clips_are_bucketed_by_frame_count_and_corrupt_files_are_skipped(clips, make_config):
    warnings: list[str] = []
    ds = prepared(video_config(make_config), [make_concept(clips, balancing=2.0)], warnings)
    assert len(warnings) == 1 and "broken.mkv" in warnings[0] and "skipped" in warnings[0]
    assert len(ds) == 6  # three readable files, twice each
    batches = list(ds.epoch(0, 2))
    assert len(batches) == 3
    frames = {}
    for batch in batches:
        assert batch.pixels.shape == (2, 3, batch.frames, 32, 48) and batch.resolution == (32, 48)
        assert batch.pixels.min() >= -1 and batch.pixels.max() <= 1
        assert len(set(batch.image_paths)) == 1  # each bucket holds one file here
        frames[batch.image_paths[0].rsplit("/", 1)[-1]] = batch.frames
    # long: 13 frames, target 9 -> 9; short: 6 frames -> 5 (4k + 1); the still image is one frame
    assert frames == {"long.mp4": 9, "short.MOV": 5, "still.png": 1}


def test_clip_windows_are_contiguous_deterministic_and_vary_by_epoch(clips, make_config):
    concepts = [make_concept(clips)]
    windows = []
    for epoch in range(6):
        found = by_file(prepared(video_config(make_config), concepts).epoch(epoch, 1))
        again = by_file(prepared(video_config(make_config), concepts).epoch(epoch, 1))
        (batch, row), = found["long.mp4"]
        (same, same_row), = again["long.mp4"]
        assert torch.equal(batch.pixels[row], same.pixels[same_row])
        numbers = frame_numbers(batch.pixels[row])
        assert numbers == list(range(numbers[0], numbers[0] + 9)) and 0 <= numbers[0] <= 13 - 9
        windows.append(numbers[0])
    assert len(set(windows)) > 1  # the window start is drawn per epoch


def test_every_frame_of_a_clip_gets_the_same_augmentations(tmp_path, make_config):
    folder = tmp_path / "static"
    write_video(folder / "still.mp4", 9, size=(64, 40), static=True)
    image = {"enable_random_flip": True, "enable_random_rotate": True, "random_rotate_max_angle": 20.0,
             "enable_random_brightness": True, "enable_random_contrast": True, "enable_random_saturation": True,
             "enable_random_hue": True, "enable_crop_jitter": True}
    ds = prepared(video_config(make_config, resolution="32"), [make_concept(folder, balancing=4.0, image=image)])
    clips = [batch.pixels[0] for batch in ds.epoch(0, 1)]
    assert len(clips) == 4 and clips[0].shape[1] == 9
    for clip in clips:
        for frame in range(1, 9):
            assert torch.allclose(clip[:, frame], clip[:, 0], atol=1e-5)
    assert not all(torch.allclose(clips[0], other, atol=1e-3) for other in clips[1:])  # samples do differ


def test_fixed_flip_flips_every_frame(tmp_path, make_config):
    folder = tmp_path / "moving"
    write_video(folder / "clip.mp4", 5)
    plain = next(iter(prepared(video_config(make_config), [make_concept(folder)]).epoch(0, 1))).pixels
    flipped = next(iter(prepared(video_config(make_config),
                                 [make_concept(folder, image={"enable_fixed_flip": True})]).epoch(0, 1))).pixels
    assert plain.shape == (1, 3, 5, 32, 48) and torch.allclose(flipped, plain.flip(-1))


def test_masks_get_the_frame_axis(tmp_path, make_config):
    folder = tmp_path / "masked"
    write_video(folder / "clip.mp4", 5)
    write_mask(folder / "clip-masklabel.png", (48, 32), (0, 0, 24, 32))  # left half
    write_image(folder / "still.png", (48, 32))
    batches = by_file(prepared(video_config(make_config, masked_training=True), [make_concept(folder)]).epoch(0, 1))
    (clip, _), = batches["clip.mp4"]
    assert clip.masks.shape == (1, 1, 5, 32, 48)
    assert clip.masks[0, 0, :, :, :24].min() == 1 and clip.masks[0, 0, :, :, 24:].max() == 0
    (still, _), = batches["still.png"]
    assert torch.equal(still.masks, torch.ones(1, 1, 1, 32, 48))


def test_clip_latents_are_cached(clips, make_config):
    encoder = VideoEncoder()
    config = video_config(make_config, latent_caching=True, clear_cache_before_training=False)
    cached = prepared(config, [make_concept(clips)], encode_images=encoder)
    assert Counter(shape[2] for shape in encoder.shapes) == {9: 1, 5: 1, 1: 1}
    inline = prepared(video_config(make_config), [make_concept(clips)])
    for (name, [(batch, row)]), (_, [(plain, plain_row)]) in zip(sorted(by_file(cached.epoch(0, 1)).items()),
                                                                 sorted(by_file(inline.epoch(0, 1)).items()),
                                                                 strict=True):
        assert batch.pixels is None and batch.frames == plain.frames, name
        expected = torch.nn.functional.avg_pool3d(plain.pixels[plain_row:plain_row + 1], (1, 8, 8))
        assert torch.allclose(batch.latents[row:row + 1], expected, atol=1e-6), name
    again = VideoEncoder()
    prepared(config, [make_concept(clips)], encode_images=again)
    assert again.shapes == []  # the second run reads the cache


def test_a_concept_without_a_readable_file_is_an_error(tmp_path, make_config):
    folder = tmp_path / "bad"
    _write(folder / "a.mp4", b"junk")
    _write(folder / "b.webm", b"")
    warnings: list[str] = []
    with pytest.raises(ValueError, match="no training images could be read"):
        prepared(video_config(make_config), [make_concept(folder)], warnings)
    assert len(warnings) == 2 and "a.mp4" in warnings[0] and "b.webm" in warnings[1]


def test_a_corrupt_image_is_skipped_for_image_models_too(square_folder, make_config):
    _write(square_folder / "zz.png", b"not a png")
    warnings: list[str] = []
    ds = prepared(make_config(), [make_concept(square_folder)], warnings)
    assert len(ds) == 6 and len(warnings) == 1 and "zz.png" in warnings[0]


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_late_window_seeks_to_the_same_frames(tmp_path):
    path = write_video(tmp_path / "keyed.mp4", 30, key_frame_interval=4)
    info = probe(path)
    assert info.frames == 30
    for start in (0, 3, 13, 21):
        clip = read_clip(path, info, start, 9)
        assert frame_numbers(clip.permute(1, 0, 2, 3) * 2 - 1) == list(range(start, start + 9))
    slow = probe(write_video(tmp_path / "slow.mp4", 20, fps=12, key_frame_interval=3))
    clip = read_clip(tmp_path / "slow.mp4", slow, 17, 6)
    assert frame_numbers(clip.permute(1, 0, 2, 3) * 2 - 1) == [8, 9, 9, 10, 10, 11]


def test_a_clip_too_short_for_the_model_is_skipped(tmp_path, make_config):
    folder = tmp_path / "short"
    write_video(folder / "three.mp4", 3)
    write_video(folder / "five.mp4", 5)

    def at_least_five(available: int, target: int) -> int:
        return 5 if available >= 5 else 0

    warnings: list[str] = []
    ds = TrainDataset(video_config(make_config), [make_concept(folder)], frame_count=at_least_five,
                      on_warning=warnings.append)
    ds.prepare()
    assert len(ds) == 1 and [b.frames for b in ds.epoch(0, 1)] == [5]
    assert len(warnings) == 1 and "three.mp4" in warnings[0] and "3 frames are too few" in warnings[0]
