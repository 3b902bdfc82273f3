"""Synthetic temporal videos: classes that only frame ORDER can tell apart.

Every class comes in a pair with its time reversal (moving right / moving
left, down / up, rotating clockwise / anticlockwise, growing / shrinking).
A clip of the second class of a pair is rendered exactly like a clip of the
first class and then played backwards, so the two classes have the same
distribution of frames: a model that ignores frame order is at chance on
each pair, and only temporal modelling can go beyond 50% of the pair.

Each clip draws from its own seeded generator (the data-set seed, the split
and the clip index), so a seed gives the same data set in any order. Clips
have a random background colour and texture, a random object shape, colour,
size, start position and speed, optional distractor objects wandering
independently of the class, and a little per-frame pixel noise.

Layout written by :func:`generate` (paths in the lists are relative to
``videos/`` or ``rawframes/``, the ``data_prefix`` of MMAction2's
``VideoDataset`` / ``RawframeDataset``)::

    OUT_DIR/
        meta.json                  # generator settings, written last
        classes.txt                # label map: one class name per line
        videos/{train,val}/NNNNN.mp4
        {train,val}_list_videos.txt          # "train/00000.mp4 3"
        rawframes/{train,val}/NNNNN/img_00001.jpg    (with rawframes=True)
        {train,val}_list_rawframes.txt       # "train/00000 16 3"

Command line::

    python -m mmblvnet.datasets.synthetic data/synthetic --clips-per-class 250
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.utils import ProgressBar

GENERATOR_VERSION = 1
META_FILE = 'meta.json'

# Pairs of (class, its time reversal); a clip of the second class is a clip
# of the first one played backwards.
CLASS_PAIRS = (
    ('moving_right', 'moving_left'),
    ('moving_down', 'moving_up'),
    ('rotating_clockwise', 'rotating_anticlockwise'),
    ('growing', 'shrinking'),
)
CLASSES = tuple(name for pair in CLASS_PAIRS for name in pair)
SPLITS = ('train', 'val')
_SHAPES = ('bar', 'triangle', 'arrow')


def class_names(num_classes: int) -> List[str]:
    """Return the first ``num_classes`` class names (whole reversed pairs).

    Args:
        num_classes (int): Even number of classes, 2 to ``len(CLASSES)``.

    Returns:
        list[str]: Class names; label ``2 * i + 1`` is the time reversal
        of label ``2 * i``.
    """
    if num_classes % 2 or not 2 <= num_classes <= len(CLASSES):
        raise ValueError(
            f'num_classes must be even and within [2, {len(CLASSES)}] so '
            f'that every class has its time reversal, got {num_classes}')
    return list(CLASSES[:num_classes])


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random colour with a random linear gradient and a faint texture."""
    base = rng.uniform(0, 255, size=3)
    ramp = np.linspace(-1, 1, size)
    angle = rng.uniform(0, 2 * math.pi)
    gradient = (math.cos(angle) * ramp[None, :] +
                math.sin(angle) * ramp[:, None])
    tint = rng.uniform(-40, 40, size=3)
    texture = rng.normal(0, 6, size=(size, size, 1))
    image = base + gradient[..., None] * tint + texture
    return np.clip(image, 0, 255).astype(np.uint8)


def object_outline(shape: str, scale: float) -> np.ndarray:
    """Polygon of an object centred at the origin, pointing along +x.

    Rotating clips use the arrow, the one shape without rotational
    symmetry; bars and triangles look alike after a half or third turn.
    """
    if shape == 'bar':
        points = [(-1.0, -0.3), (1.0, -0.3), (1.0, 0.3), (-1.0, 0.3)]
    elif shape == 'triangle':
        points = [(1.0, 0.0), (-0.8, -0.7), (-0.8, 0.7)]
    else:  # arrow
        points = [(1.0, 0.0), (0.2, -0.7), (0.2, -0.25), (-1.0, -0.25),
                  (-1.0, 0.25), (0.2, 0.25), (0.2, 0.7)]
    return np.asarray(points) * scale


def _draw(frame: np.ndarray, outline: np.ndarray, centre: np.ndarray,
          angle: float, colour: Sequence[float]) -> None:
    rotation = np.array([[math.cos(angle), -math.sin(angle)],
                         [math.sin(angle), math.cos(angle)]])
    points = outline @ rotation.T + centre
    cv2.fillPoly(frame, [np.round(points * 16).astype(np.int32)],
                 tuple(float(c) for c in colour), lineType=cv2.LINE_AA,
                 shift=4)


def forward_motion(pair: int, rng: np.random.Generator, num_frames: int,
                   size: int):
    """Per-frame centre, angle and scale of the first class of a pair.

    Returns:
        tuple: ``centres`` of shape (T, 2) in pixels (x, y), ``angles`` of
        shape (T, ) in radians and ``scales`` of shape (T, ) in pixels.
    """
    t = np.linspace(0.0, 1.0, num_frames)
    scale = rng.uniform(0.16, 0.24) * size
    margin = 1.1 * scale
    centre = rng.uniform(margin, size - margin, size=2)
    centres = np.repeat(centre[None], num_frames, axis=0)
    angles = np.full(num_frames, rng.uniform(0, 2 * math.pi))
    scales = np.full(num_frames, scale)
    if pair in (0, 1):  # translation along x (pair 0) or y (pair 1)
        travel = rng.uniform(0.5, 0.85) * (size - 2 * margin)
        start = rng.uniform(margin, size - margin - travel)
        centres[:, pair] = start + travel * t
    elif pair == 2:  # clockwise on screen: the angle grows (y points down)
        angles = angles + rng.uniform(0.5, 0.8) * math.pi * t
        scales = scales * 1.6
        centres[:] = rng.uniform(0.35 * size, 0.65 * size, size=2)
    else:  # growing
        small = rng.uniform(0.06, 0.1) * size
        scales = small + (rng.uniform(0.22, 0.3) * size - small) * t
        centres[:] = rng.uniform(0.32 * size, 0.68 * size, size=2)
    return centres, angles, scales


def render_clip(label: int, rng: np.random.Generator, num_frames: int = 16,
                size: int = 64, distractors: int = 0,
                noise_std: float = 4.0) -> np.ndarray:
    """Render one clip of a class.

    A clip of an odd label is the clip of the even label of its pair
    rendered from the same random draws and reversed in time.

    Args:
        label (int): Class index into :data:`CLASSES`.
        rng (np.random.Generator): Source of every random choice.
        num_frames (int): Frames in the clip. Defaults to 16.
        size (int): Frame height and width in pixels. Defaults to 64.
        distractors (int): Objects moving at random, independently of the
            class. Defaults to 0.
        noise_std (float): Std of the Gaussian pixel noise. Defaults to 4.

    Returns:
        np.ndarray: RGB frames of shape (T, size, size, 3), uint8.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label must be in [0, {len(CLASSES)}), '
                         f'got {label}')
    if num_frames < 2:
        raise ValueError(f'num_frames must be >= 2, got {num_frames}')
    background = _background(rng, size)
    shape = _SHAPES[rng.integers(len(_SHAPES))]
    if label // 2 == 2:  # rotation: only the arrow has no rotational symmetry
        shape = 'arrow'
    # Opposite the background on the colour wheel: always high contrast.
    colour = (background.mean((0, 1)) + 128 +
              rng.uniform(-40, 40, size=3)) % 256
    centres, angles, scales = forward_motion(label // 2, rng, num_frames,
                                             size)
    wanderers = [(object_outline(_SHAPES[rng.integers(len(_SHAPES))],
                                 rng.uniform(0.05, 0.09) * size),
                  rng.uniform(0, 255, size=3),
                  rng.uniform(0, size, size=2),
                  rng.normal(0, 0.04 * size, size=(num_frames, 2)).cumsum(0),
                  rng.uniform(0, 2 * math.pi))
                 for _ in range(distractors)]
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i in range(num_frames):
        canvas = background.copy()
        for outline, w_colour, start, walk, w_angle in wanderers:
            _draw(canvas, outline, np.mod(start + walk[i], size), w_angle,
                  w_colour)
        _draw(canvas, object_outline(shape, scales[i]), centres[i],
              angles[i], colour)
        noisy = canvas + rng.normal(0, noise_std, size=canvas.shape)
        frames[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return frames[::-1].copy() if label % 2 else frames


def write_video(path: str, frames: np.ndarray, fps: int = 8) -> None:
    """Write RGB frames to an mp4 file (OpenCV ``mp4v``, decord-readable).

    Args:
        path (str): Output ``.mp4`` path; its folder must exist.
        frames (np.ndarray): RGB frames of shape (T, H, W, 3), uint8.
        fps (int): Frame rate. Defaults to 8.
    """
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot open {path} for writing (mp4v)')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def write_rawframes(folder: str, frames: np.ndarray,
                    filename_tmpl: str = 'img_{:05}.jpg') -> None:
    """Write RGB frames as JPEG files ``filename_tmpl.format(1), ...``.

    Args:
        folder (str): Created; must not exist.
        frames (np.ndarray): RGB frames of shape (T, H, W, 3), uint8.
        filename_tmpl (str): Frame file names, numbered from 1 (the
            default is ``RawframeDataset``'s).
    """
    os.makedirs(folder)
    for i, frame in enumerate(frames, start=1):
        cv2.imwrite(osp.join(folder, filename_tmpl.format(i)),
                    cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def read_meta(out_dir: str) -> Optional[Dict]:
    """Return the settings a finished data set was generated with, if any."""
    path = osp.join(out_dir, META_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def generate(out_dir: str, clips_per_class: int = 250, num_classes: int = 6,
             num_frames: int = 16, size: int = 64, val_fraction: float = 0.2,
             distractors: int = 0, rawframes: bool = False, seed: int = 0,
             fps: int = 8, progress: bool = False) -> Dict:
    """Generate the data set into ``out_dir`` unless it is already there.

    The data set is written into ``out_dir + '.partial'`` and renamed when
    complete, so an interrupted run never leaves a folder that looks done.
    An existing ``out_dir`` is reused when its ``meta.json`` holds the same
    settings; any other existing folder is refused, never overwritten.

    Args:
        out_dir (str): Folder of the data set.
        clips_per_class (int): Clips per class over both splits.
        num_classes (int): Even number of classes (whole reversed pairs).
        num_frames (int): Frames per clip.
        size (int): Frame height and width in pixels.
        val_fraction (float): Share of each class held out for ``val``.
        distractors (int): Objects per clip moving independently of the
            class (a harder setting).
        rawframes (bool): Also write jpg frame folders and their lists.
        seed (int): Seed of the whole data set.
        fps (int): Frame rate of the mp4 files.
        progress (bool): Show a progress bar on stderr while rendering.

    Returns:
        dict: The settings, as stored in ``meta.json``.
    """
    classes = class_names(num_classes)
    num_val = round(clips_per_class * val_fraction)
    if not 0 < num_val < clips_per_class:
        raise ValueError(
            f'clips_per_class={clips_per_class} with val_fraction='
            f'{val_fraction} leaves an empty train or val split')
    settings = dict(
        generator='mmblvnet.datasets.synthetic', version=GENERATOR_VERSION,
        clips_per_class=clips_per_class, num_classes=num_classes,
        num_frames=num_frames, size=size, val_fraction=val_fraction,
        distractors=distractors, rawframes=rawframes, seed=seed, fps=fps,
        classes=classes)
    if osp.exists(out_dir):
        existing = read_meta(out_dir)
        if existing == settings:
            return settings
        if existing is None:
            raise FileExistsError(
                f'{out_dir} exists and is not a synthetic data set (no '
                f'{META_FILE}); choose another folder, it is left as is')
        raise FileExistsError(
            f'{out_dir} holds a synthetic data set generated with other '
            f'settings ({existing}); choose another folder or delete it')
    partial = out_dir.rstrip('/') + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    per_split = dict(train=clips_per_class - num_val, val=num_val)
    bar = ProgressBar(clips_per_class * num_classes,
                      file=sys.stderr) if progress else None
    for split, clips in per_split.items():
        os.makedirs(osp.join(partial, 'videos', split))
        video_lines, frame_lines = [], []
        for index in range(clips * num_classes):
            label = index % num_classes
            rng = np.random.default_rng([seed, SPLITS.index(split), index])
            frames = render_clip(label, rng, num_frames, size, distractors)
            name = f'{split}/{index:05d}'
            write_video(osp.join(partial, 'videos', f'{name}.mp4'), frames,
                        fps)
            video_lines.append(f'{name}.mp4 {label}\n')
            if rawframes:
                write_rawframes(osp.join(partial, 'rawframes', name),
                                 frames)
                frame_lines.append(f'{name} {num_frames} {label}\n')
            if bar is not None:
                bar.update()
        with open(osp.join(partial, f'{split}_list_videos.txt'), 'w') as f:
            f.writelines(video_lines)
        if rawframes:
            with open(osp.join(partial, f'{split}_list_rawframes.txt'),
                      'w') as f:
                f.writelines(frame_lines)
    if bar is not None:
        sys.stderr.write('\n')
    with open(osp.join(partial, 'classes.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in classes)
    with open(osp.join(partial, META_FILE), 'w') as f:
        json.dump(settings, f, indent=2)
    os.rename(partial, out_dir)
    return settings


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate synthetic videos whose classes differ only '
        'in frame order, with MMAction2 annotation lists.')
    parser.add_argument('out_dir', help='folder of the data set')
    parser.add_argument('--clips-per-class', type=int, default=250)
    parser.add_argument('--num-classes', type=int, default=6,
                        help=f'even, at most {len(CLASSES)}')
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--val-fraction', type=float, default=0.2)
    parser.add_argument('--distractors', type=int, default=0)
    parser.add_argument('--rawframes', action='store_true',
                        help='also write jpg frame folders')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mmblvnet.datasets.synthetic``: generate, print what;
    a refusal raises (the command reports it as one ``error:`` line)."""
    args = parse_args(argv)
    options = vars(args)
    out_dir = options.pop('out_dir')
    settings = generate(out_dir, progress=True, **options)
    print(f'{out_dir}: {settings["num_classes"]} classes x '
          f'{settings["clips_per_class"]} clips '
          f'({", ".join(settings["classes"])})')
    return 0


if __name__ == '__main__':
    from mmblvnet.utils.cli import run_main
    sys.exit(run_main(main))
