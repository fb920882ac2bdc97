"""Video tools: clips, still images and yt-dlp downloads, through the CLI and the dialog, on videos
made with PyAV in the test (downloads only from a server on 127.0.0.1 and from file links)."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from modules.cli.video import main
from modules.tools import video_tools

H, W, FPS = 64, 96, 24
RED, BLUE = (220, 30, 30), (30, 30, 220)


def textured(color, seed: int) -> np.ndarray:
    """A coloured frame with fine noise (so it has edges to be sharp or blurred)."""
    rng = np.random.default_rng(seed)
    image = np.array(color, dtype=np.int16)[None, None, :] + rng.integers(-40, 40, (H, W, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def make_video(path: Path, images: list[np.ndarray], fps: int = FPS) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12"})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def clip_fps(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate)


def dominant(image: np.ndarray) -> str:
    red, _, blue = image.reshape(-1, 3).mean(axis=0)
    return "red" if red > blue else "blue"


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    # 3 s: 1.5 s of red, a hard cut, 1.5 s of blue
    cut = make_video(root / "cut.mp4", [textured(RED, i) for i in range(36)] + [textured(BLUE, i) for i in range(36)])
    # letterboxed: black bars of 16 rows above and below the picture
    boxed = []
    for i in range(24):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[16:48] = textured(RED, i)[16:48]
        boxed.append(frame)
    letterbox = make_video(root / "letterbox.mp4", boxed)
    # 2 s at 4 fps, the fourth frame (0.75 s) blurred
    import cv2

    sharp = [textured(RED, i) for i in range(8)]
    sharp[3] = cv2.GaussianBlur(sharp[3], (9, 9), 4)
    blurred = make_video(root / "blur.mp4", sharp, fps=4)
    return {"cut": cut, "letterbox": letterbox, "blur": blurred}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ---- clips ---------------------------------------------------------------------------------------
def test_clips_split_at_the_scene_cut(tmp_path, videos):
    out = tmp_path / "split"
    out.mkdir()
    assert main(["clips", "--input", str(videos["cut"]), "--output", str(out), "--split-at-cuts",
                 "--max-length", "3", "--fps", "12", "--crop-variation", "0"]) == 0
    clips = sorted(out.glob("*.mp4"))
    assert [p.name for p in clips] == ["cut_0000.mp4", "cut_0001.mp4"]
    for clip, colour in zip(clips, ("red", "blue"), strict=True):
        frames = read_frames(clip)
        assert len(frames) == 18 and clip_fps(clip) == 12  # 1.5 s at 12 fps
        assert {dominant(f) for f in frames} == {colour}
        assert frames[0].shape == (H, W, 3)
    whole = tmp_path / "whole"
    whole.mkdir()
    assert main(["clips", "--input", str(videos["cut"]), "--output", str(whole), "--max-length", "3",
                 "--fps", "0", "--crop-variation", "0"]) == 0
    (clip,) = whole.glob("*.mp4")
    frames = read_frames(clip)
    assert len(frames) == 72 and {dominant(f) for f in frames} == {"red", "blue"}  # 0 fps keeps 24 fps


def test_clips_max_length_and_time_range(tmp_path, videos):
    assert main(["clips", "--input", str(videos["cut"]), "--output", str(tmp_path), "--max-length", "1",
                 "--time-start", "0:00.5", "--time-end", "2.5", "--crop-variation", "0"]) == 0
    clips = sorted(tmp_path.glob("*.mp4"))
    assert [len(read_frames(c)) for c in clips] == [24, 24]
    assert [dominant(read_frames(c)[0]) for c in clips] == ["red", "blue"]  # 0.5-1.5 s, 1.5-2.5 s


def test_remove_borders_and_crop_variation(tmp_path, videos):
    images = tmp_path / "images"
    images.mkdir()
    assert main(["images", "--input", str(videos["letterbox"]), "--output", str(images), "--remove-borders",
                 "--crop-variation", "0", "--images-per-second", "4", "--blur-removal", "0"]) == 0
    sizes = {Image.open(p).size for p in images.glob("*.jpg")}
    assert sizes == {(W, 32)}
    clips = tmp_path / "clips"
    clips.mkdir()
    assert main(["clips", "--input", str(videos["letterbox"]), "--output", str(clips), "--remove-borders",
                 "--crop-variation", "0"]) == 0
    (clip,) = clips.glob("*.mp4")
    frame = read_frames(clip)[0]
    assert frame.shape == (32, W, 3) and frame.mean() > 40  # no black rows left
    varied = tmp_path / "varied"
    varied.mkdir()
    assert main(["images", "--input", str(videos["cut"]), "--output", str(varied), "--crop-variation", "0.5",
                 "--images-per-second", "4", "--blur-removal", "0", "--seed", "3"]) == 0
    sizes = [Image.open(p).size for p in varied.glob("*.jpg")]
    assert len(sizes) == 12 and len(set(sizes)) > 3
    assert all((w == W and H / 2 <= h <= H) or (h == H and W / 2 <= w <= W) for w, h in sizes)


def test_images_rate_and_blur_removal(tmp_path, videos):
    assert main(["images", "--input", str(videos["blur"]), "--output", str(tmp_path), "--images-per-second", "4",
                 "--blur-removal", "0.125", "--crop-variation", "0"]) == 0
    names = _files(tmp_path)
    expected = [f"blur_{ms:08d}.jpg" for ms in (0, 250, 500, 1000, 1250, 1500, 1750)]  # 750 ms was blurred
    assert names == expected
    assert main(["images", "--input", str(videos["blur"]), "--output", str(tmp_path / "sub"),
                 "--images-per-second", "1"]) == 1  # the output folder must exist
    one_a_second = tmp_path / "slow"
    one_a_second.mkdir()
    assert main(["images", "--input", str(videos["blur"]), "--output", str(one_a_second), "--images-per-second", "1",
                 "--blur-removal", "0", "--output-subdirs"]) == 0
    assert _files(one_a_second) == ["blur/blur_00000000.jpg", "blur/blur_00001000.jpg"]


def test_a_folder_of_videos(tmp_path, videos):
    assert main(["clips", "--input", str(videos["cut"].parent), "--output", str(tmp_path), "--max-length", "3",
                 "--output-subdirs"]) == 0
    assert _files(tmp_path) == ["blur/blur_0000.mp4", "cut/cut_0000.mp4", "letterbox/letterbox_0000.mp4"]


def test_bad_input_gets_one_line_and_writes_nothing(tmp_path, videos, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(videos["cut"].read_bytes())
    (folder / "broken.mp4").write_text("not a video")
    out = tmp_path / "out"
    out.mkdir()
    cases = [
        (["clips", "--input", str(folder), "--output", str(out)], "broken.mp4 is not a readable video"),
        (["clips", "--input", str(tmp_path / "nothing"), "--output", str(out)], "does not exist"),
        (["images", "--input", str(videos["cut"]), "--output", str(tmp_path / "missing")], "output folder"),
        (["clips", "--input", str(videos["cut"]), "--output", str(out), "--max-length", "0.2"], "more than 0.25"),
        (["images", "--input", str(videos["cut"]), "--output", str(out), "--blur-removal", "2"], "between 0 and 1"),
        (["clips", "--input", str(videos["cut"]), "--output", str(out), "--time-start", "2", "--time-end", "1"],
         "ends"),
        (["clips", "--input", str(videos["cut"]), "--output", str(out), "--time-end", "1:x"], "not h:m:s"),
        (["download", "--link", "ftp://127.0.0.1/a.mp4", "--output", str(out)], "is not a link"),
        (["download", "--link-list", str(tmp_path / "none.txt"), "--output", str(out)], "does not exist"),
    ]
    for argv, says in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and says in err, (argv, err)
        assert _files(out) == [] and not (tmp_path / "missing").exists()


def test_cancel_keeps_the_finished_clips_and_no_half_file(tmp_path, videos):
    from modules.tools.task import ToolCancelled, ToolTask

    task = ToolTask()
    task.on_log = lambda text: task.cancel() if "cut_0000.mp4" in text else None
    with pytest.raises(ToolCancelled):
        video_tools.extract_clips(task, videos["cut"], tmp_path, max_length=0.5, crop_variation=0)
    assert _files(tmp_path) == ["cut_0000.mp4"]  # no temporary file left beside it
    assert len(read_frames(tmp_path / "cut_0000.mp4")) == 12


def test_parse_time():
    assert video_tools.parse_time("1:02:03.5") == 3723.5
    assert video_tools.parse_time("2:30") == 150
    assert video_tools.parse_time("7") == 7
    assert video_tools.parse_time(video_tools.END_OF_VIDEO) > 99 * 3600


# ---- download ------------------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(videos):
    handler = functools.partial(QuietHandler, directory=str(videos["cut"].parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_a_link_and_a_list(tmp_path, server, videos, capsys):
    single = tmp_path / "single"
    single.mkdir()
    assert main(["download", "--link", f"{server}/cut.mp4", "--output", str(single),
                 "--yt-dlp-args=--quiet --no-warnings"]) == 0
    (file,) = single.iterdir()
    assert file.suffix == ".mp4" and len(read_frames(file)) == 72
    listed = tmp_path / "listed"
    listed.mkdir()
    links = tmp_path / "links.txt"
    links.write_text(f"# two videos\n{server}/blur.mp4\n\n{videos['letterbox'].as_uri()}\n")
    assert main(["download", "--link-list", str(links), "--output", str(listed),
                 "--yt-dlp-args=--quiet --no-warnings"]) == 0
    assert sorted(len(read_frames(p)) for p in listed.iterdir()) == [8, 24]
    failed = tmp_path / "failed"
    failed.mkdir()
    assert main(["download", "--link", f"{server}/missing.mp4", "--output", str(failed),
                 "--yt-dlp-args=--quiet --no-warnings"]) == 1
    err = capsys.readouterr().err.strip()
    assert "1 of 1 downloads failed" in err and "404" in err and "\n" not in err
    assert _files(failed) == []


def test_extra_arguments_are_an_argument_list_never_a_shell(tmp_path):
    marker = tmp_path / "touched"
    args = video_tools.download_arguments(f'--format mp4 --output "a b.%(ext)s"; touch {marker}')
    assert args == ["--format", "mp4", "--output", "a b.%(ext)s;", "touch", str(marker)]


# ---- the dialog ----------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("OT_DATA_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


async def _open_dialog(user) -> None:
    from nicegui import ui
    from nicegui.testing.user_interaction import UserInteraction

    await user.open("/?tab=tools")
    await user.should_see("Video tools")
    with user:
        (button,) = [b for b in user.find(kind=ui.button, content="Open").elements
                     if "Video tools" in str(b.props.get("aria-label"))]
    UserInteraction(user, {button}, None).click()
    await user.should_see(marker="video-dialog")


async def until(condition, seconds: float = 60) -> None:
    import asyncio

    for _ in range(int(seconds * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition did not come true in time")


def _status(user) -> str:
    with user:
        (label,) = user.find(marker="tool-video-status").elements
        return label.text


def _caption(user) -> str:
    with user:
        (label,) = user.find(marker="video-preview-caption").elements
        return label.text


async def test_dialog_extracts_clips_and_images_and_downloads_with_a_preview(data_dir, user, videos, tmp_path,
                                                                             server):
    await _open_dialog(user)
    clips = tmp_path / "clips"
    clips.mkdir()
    user.find(marker="video-clips-input").clear().type(str(videos["cut"]))
    user.find(marker="video-clips-output").clear().type(str(clips))
    user.find(marker="video-clips-cuts").click()
    user.find(marker="video-clips-run").click()
    await user.should_see("Done", retries=300)
    assert [p.name for p in sorted(clips.glob("*.mp4"))] == ["cut_0000.mp4", "cut_0001.mp4"]
    assert _caption(user).startswith("cut_0001.mp4 · 36 frames · ")

    user.find(marker="video-tab-images").click()
    user.find(marker="video-images-input").clear().type(str(videos["blur"]))
    user.find(marker="video-images-output").clear().type(str(tmp_path / "missing"))
    user.find(marker="video-images-run").click()
    await user.should_see(f"Stopped: the output folder {tmp_path / 'missing'} does not exist")
    images = tmp_path / "images"
    images.mkdir()
    user.find(marker="video-images-output").clear().type(str(images))
    user.find(marker="video-images-run").click()
    await until(lambda: _status(user) in ("Done", "Running …") and _caption(user).startswith("blur_"))
    assert len(list(images.glob("*.jpg"))) == 1  # 2 s at 0.5 images a second, none blurry enough to drop
    assert _caption(user).startswith("blur_00000000.jpg · ")

    user.find(marker="video-tab-download").click()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    user.find(marker="video-download-link").clear().type(f"{server}/letterbox.mp4")
    user.find(marker="video-download-output").clear().type(str(downloads))
    user.find(marker="video-download-run").click()
    await until(lambda: _status(user) == "Done" and "letterbox" in _caption(user))
    (file,) = downloads.iterdir()
    assert _caption(user) == f"{file.name} · 24 frames · {W}×{H}"


# ---- in Chromium -----------------------------------------------------------------------------------
def test_dialog_in_chromium_in_both_themes(tmp_path, videos):
    from deploy.harness import ARTIFACTS, CHROMIUM_ARGS, chromium_path, run_app

    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip("chromium is not installed (tests/setup_system.sh installs it)")
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with run_app(tmp_path) as app, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            out = tmp_path / scheme
            out.mkdir()
            context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page: {e}"))
            page.goto(app.url + "/?tab=tools")
            page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
            assert page.evaluate("document.body.classList.contains('body--dark')") == (scheme == "dark")
            page.get_by_role("button", name="Open Video tools").click()
            dialog = page.locator(".q-dialog")
            dialog.get_by_role("tab", name="Extract images").click()
            # the server switches the panels: until then the clips panel, with the same fields, is the visible one
            dialog.get_by_role("button", name="Extract images").wait_for()
            panel = dialog.locator(".q-tab-panel:visible")
            panel.get_by_role("textbox", name="Video or folder of videos").fill(str(videos["letterbox"]))
            panel.get_by_role("textbox", name="Output folder").fill(str(out))
            panel.get_by_role("switch", name="Remove borders").click()
            panel.get_by_role("button", name="Extract images").click()
            dialog.get_by_text("Done", exact=True).wait_for(timeout=60_000)
            dialog.get_by_role("img", name="Preview of the last output").wait_for()
            page.wait_for_function("[...document.querySelectorAll('.q-dialog img')].some(i => i.naturalWidth > 0)")
            page.screenshot(path=str(ARTIFACTS / f"video-dialog-{scheme}.png"))
            assert len(list(out.glob("*.jpg"))) == 1
            dialog.get_by_role("tab", name="Download").click()
            dialog.get_by_role("textbox", name="Additional yt-dlp arguments").wait_for()
            context.close()
        browser.close()
        log = app.output()
    assert not errors, errors
    assert "Traceback" not in log, log[-3000:]
