"""Videos encoded as the public data sets store them, from synthetic scenes.

Decoding speed depends on the codec, the frame size and, most of all, on
how far apart the keyframes are, so a decoder is only measured fairly on
files that look like the real data sets, in content as in format. The
styles here encode scenes of :func:`~benchmarks.scenes.render_scene`
(textured, with camera motion, moving objects, changing light and sensor
noise: what makes a real video cost what it costs to code and to decode)
with the ``ffmpeg`` command-line tool (the Debian ``ffmpeg`` package:
``libx264`` and ``libvpx-vp9``):

===========  =========================================================
``kinetics``  H.264 in mp4, 340x256, 30 fps, 10 s, one keyframe every
              250 frames, B-frames, CRF 23 (libx264's defaults, which
              MMAction2's ``tools/data/resize_videos.py`` keeps): about
              0.5-0.7 MB a video, as MMAction2's ``demo/demo.mp4``
``sthv2``     VP9 in webm, 426x240, 12 fps, 4 s, about 100-150 KB a
              video (Something-Something v2: its 220,847 videos are
              19.4 GB, about 90 KB each)
``sthv1``     JPEG frame folders ``00001.jpg, ...``, 176x100, 12 fps,
              4 s (Something-Something v1)
``avi``       MPEG-4 part 2 in AVI, 340x256, 30 fps, 4 s (the codec and
              container of MMAction2's ``tests/data/test.avi``)
===========  =========================================================

Layout written by :func:`generate_styled` (list paths relative to
``videos/`` or ``rawframes/``, as MMAction2's data sets expect)::

    OUT_DIR/
        videos/NNNNN.mp4 (.webm, .avi)    list_videos.txt     "00000.mp4 3"
        rawframes/NNNNN/00001.jpg         list_rawframes.txt  "00000 48 3"

Command line::

    python -m benchmarks.video_styles OUT_DIR --style kinetics \\
        --videos 24
"""
import argparse
import dataclasses
import math
import os
import os.path as osp
import shutil
import sys
from typing import Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar

from mmblvnet.datasets.synthetic import CLASSES, write_rawframes
from tools.data.seekable import run_ffmpeg

from .scenes import render_scene

# Frame file names of the ``sthv1`` style (MMAction2's sthv1 configs).
STHV1_FILENAME_TMPL = '{:05}.jpg'


@dataclasses.dataclass(frozen=True)
class VideoStyle:
    """How one data set stores its videos.

    Attributes:
        width (int): Frame width in pixels.
        height (int): Frame height in pixels.
        fps (int): Frame rate.
        seconds (float): Duration of a video.
        extension (str): File extension (``'.mp4'``, ...); empty for
            frame folders.
        codec_args (tuple[str, ...]): ffmpeg output options of the codec.
    """
    width: int
    height: int
    fps: int
    seconds: float
    extension: str
    codec_args: Tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        """Frames per video."""
        return round(self.fps * self.seconds)

    def scaled(self, scale: float) -> 'VideoStyle':
        """The style with frame sides and duration times ``scale``
        (sides rounded to even numbers for 4:2:0 chroma)."""

        def even(side: int) -> int:
            return 2 * max(1, math.floor(side * scale / 2 + 0.5))

        return dataclasses.replace(
            self, width=even(self.width), height=even(self.height),
            seconds=self.seconds * scale)


STYLES = {
    'kinetics': VideoStyle(
        340, 256, 30, 10.0, '.mp4',
        ('-c:v', 'libx264', '-g', '250', '-pix_fmt', 'yuv420p')),
    'sthv2': VideoStyle(
        426, 240, 12, 4.0, '.webm',
        ('-c:v', 'libvpx-vp9', '-b:v', '0', '-crf', '45', '-deadline',
         'realtime', '-cpu-used', '8', '-pix_fmt', 'yuv420p')),
    'sthv1': VideoStyle(176, 100, 12, 4.0, ''),
    'avi': VideoStyle(
        340, 256, 30, 4.0, '.avi',
        ('-c:v', 'mpeg4', '-q:v', '4', '-pix_fmt', 'yuv420p')),
}


def render_frames(label: int, seed: int, style: VideoStyle) -> np.ndarray:
    """A scene of ``label`` at the style's frame size and length.

    Returns:
        np.ndarray: RGB frames of shape (T, height, width, 3), uint8.
    """
    return render_scene(label, np.random.default_rng([seed, label]),
                        style.num_frames, style.width, style.height)


def encode_video(frames: np.ndarray, path: str, fps: int,
                 codec_args: Sequence[str]) -> None:
    """Encode RGB frames into ``path`` with ffmpeg.

    Args:
        frames (np.ndarray): RGB frames of shape (T, H, W, 3), uint8.
        path (str): Output file; its folder must exist. Written to a
            temporary name first, so an interrupted encode leaves no file
            under ``path``.
        fps (int): Frame rate.
        codec_args (Sequence[str]): ffmpeg output options of the codec.
    """
    height, width = frames.shape[1:3]
    stem, extension = osp.splitext(path)
    partial = f'{stem}.partial{extension}'
    run_ffmpeg([
        '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{width}x{height}',
        '-r', str(fps), '-i', '-', *codec_args, '-an', '-y', partial
    ], stdin=np.ascontiguousarray(frames).tobytes())
    os.replace(partial, path)


def generate_styled(out_dir: str,
                    style: str,
                    num_videos: int,
                    scale: float = 1.0,
                    seed: int = 0,
                    progress: bool = False) -> str:
    """Write ``num_videos`` synthetic videos in a data set's style.

    Finished videos are kept, so an interrupted run resumes; the list is
    written last.

    Args:
        out_dir (str): Folder of the videos and their list.
        style (str): A key of :data:`STYLES`.
        num_videos (int): Videos to write (labels cycle over the classes).
        scale (float): Frame sides and duration times this (small test
            sets use e.g. 0.25).
        seed (int): Seed of the clips.
        progress (bool): Show a progress bar on stderr.

    Returns:
        str: The list file (``list_videos.txt`` or ``list_rawframes.txt``).
    """
    if style not in STYLES:
        raise ValueError(f'style={style!r}; choose one of {sorted(STYLES)}')
    if num_videos < 1:
        raise ValueError(f'num_videos must be >= 1, got {num_videos}')
    spec = STYLES[style].scaled(scale)
    frame_folders = not spec.extension
    media = osp.join(out_dir, 'rawframes' if frame_folders else 'videos')
    os.makedirs(media, exist_ok=True)
    bar = ProgressBar(num_videos, file=sys.stderr) if progress else None
    lines = []
    for index in range(num_videos):
        label = index % len(CLASSES)
        name = f'{index:05d}{spec.extension}'
        target = osp.join(media, name)
        if not osp.exists(target):
            frames = render_frames(label, seed + index, spec)
            if frame_folders:
                partial = target + '.partial'
                shutil.rmtree(partial, ignore_errors=True)
                write_rawframes(partial, frames, STHV1_FILENAME_TMPL)
                os.rename(partial, target)
            else:
                encode_video(frames, target, spec.fps, spec.codec_args)
        lines.append(f'{name} {spec.num_frames} {label}\n'
                     if frame_folders else f'{name} {label}\n')
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    list_file = osp.join(
        out_dir,
        'list_rawframes.txt' if frame_folders else 'list_videos.txt')
    with open(list_file, 'w') as f:
        f.writelines(lines)
    return list_file


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='Encode synthetic videos as Kinetics (H.264), '
        'Something-Something v2 (VP9 webm) or v1 (JPEG folders) store '
        'them.')
    parser.add_argument('out_dir')
    parser.add_argument('--style', choices=sorted(STYLES), required=True)
    parser.add_argument('--videos', type=int, default=24)
    parser.add_argument('--scale', type=float, default=1.0,
                        help='frame sides and duration times this')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    print(generate_styled(args.out_dir, args.style, args.videos, args.scale,
                          args.seed, progress=True))
    return 0


if __name__ == '__main__':
    from mmblvnet.utils.cli import run_main
    sys.exit(run_main(main))
