"""Video tools for building datasets, one sub-command each (the Video Tools window of OneTrainer).

    python -m modules.cli.video clips  --input VIDEO_OR_FOLDER --output FOLDER [--max-length 3] [--fps 24]
        [--split-at-cuts] [--remove-borders] [--crop-variation 0.2] [--time-start 0] [--time-end 99:99:99]
        [--output-subdirs] [--seed N]
    python -m modules.cli.video images --input VIDEO_OR_FOLDER --output FOLDER [--images-per-second 0.5]
        [--blur-removal 0.2] [--remove-borders] [--crop-variation 0.2] [--time-start 0] [--time-end 99:99:99]
        [--output-subdirs] [--seed N]
    python -m modules.cli.video download (--link URL ... | --link-list FILE) --output FOLDER
        [--yt-dlp-args="--format mp4 ..."]

Times are h:m:s, m:s or s. yt-dlp arguments are split like a shell would, but no shell runs them.
"""
from __future__ import annotations

import argparse
import sys

from modules.tools import video_tools


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a video, or a folder whose videos (sub-folders too) are used")
    parser.add_argument("--output", required=True, help="an existing folder")
    parser.add_argument("--time-start", default="00:00:00", help="h:m:s, m:s or s")
    parser.add_argument("--time-end", default=video_tools.END_OF_VIDEO, help="h:m:s, m:s or s")
    parser.add_argument("--output-subdirs", action="store_true", help="one sub-folder per video")
    parser.add_argument("--remove-borders", action="store_true", help="crop black bars")
    parser.add_argument("--crop-variation", type=float, default=0.2,
                        help="0-1: up to this fraction of one side is cropped at random")
    parser.add_argument("--seed", type=int, default=None, help="for the random crops")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m modules.cli.video", description="Video dataset tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    clips = commands.add_parser("clips", help="cut videos into short clips")
    _common(clips)
    clips.add_argument("--max-length", type=float, default=3.0, help="seconds, more than 0.25")
    clips.add_argument("--fps", type=float, default=24.0, help="0 keeps the video's frame rate")
    clips.add_argument("--split-at-cuts", action="store_true", help="a clip never spans a scene cut")
    images = commands.add_parser("images", help="take still images from videos")
    _common(images)
    images.add_argument("--images-per-second", type=float, default=0.5)
    images.add_argument("--blur-removal", type=float, default=0.2,
                        help="0-1: the fraction of the taken images that is blurriest is dropped")
    download = commands.add_parser("download", help="download videos with yt-dlp")
    links = download.add_mutually_exclusive_group(required=True)
    links.add_argument("--link", action="append", help="a video link (repeat for more)")
    links.add_argument("--link-list", help="a text file with one link a line")
    download.add_argument("--output", required=True, help="an existing folder")
    download.add_argument("--yt-dlp-args", default=video_tools.DEFAULT_DOWNLOAD_ARGS,
                          help="extra yt-dlp arguments (write --yt-dlp-args=\"...\")")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from modules.tools.task import ToolError, ToolTask

    task = ToolTask()
    try:
        if args.command == "clips":
            video_tools.extract_clips(
                task, args.input, args.output, max_length=args.max_length, fps=args.fps,
                split_at_cuts=args.split_at_cuts, remove_borders=args.remove_borders,
                crop_variation=args.crop_variation, start=args.time_start, end=args.time_end,
                output_subfolders=args.output_subdirs, seed=args.seed)
        elif args.command == "images":
            video_tools.extract_images(
                task, args.input, args.output, images_per_second=args.images_per_second,
                blur_removal=args.blur_removal, remove_borders=args.remove_borders,
                crop_variation=args.crop_variation, start=args.time_start, end=args.time_end,
                output_subfolders=args.output_subdirs, seed=args.seed)
        else:
            links = args.link or video_tools.links_in(args.link_list)
            video_tools.download(task, links, args.output, video_tools.download_arguments(args.yt_dlp_args))
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
