"""Synthetic scenes with the statistics of real footage, for codec tests.

A decoder's cost, a long-GOP file's size and the size growth of an
all-intra copy depend on what the encoder has to code: fine texture in
every frame, motion that block matching only approximates, noise and
lighting that change every frame. Flat colours with a little noise (the
clips of :mod:`mmblvnet.datasets.synthetic`, made for learning, not for
codecs) compress to a fraction of a real video and make intra coding
look far more costly than it is. A scene of :func:`render_scene` has:

- a background of "dead leaves" (overlapping discs of power-law sizes,
  the classic model of natural-image statistics: sharp edges, a 1/f
  spectrum) with multi-scale noise texture inside each leaf;
- camera motion: a pan, a slow zoom and hand-held shake, resampled with
  sub-pixel offsets every frame;
- several textured objects moving, turning and scaling on their own
  paths, and the class's object (the motion of
  :func:`~mmblvnet.datasets.synthetic.forward_motion`), played backwards
  for the second class of a pair as in the synthetic data set;
- a global lighting drift, soft shadows drifting across the scene and
  per-frame sensor noise.

Textures are drawn once; a frame is OpenCV warps of them (the objects'
only inside their boxes) and a few vectorised numpy operations.
"""
import math
from typing import NamedTuple

import cv2
import numpy as np

from mmblvnet.datasets.synthetic import CLASSES, forward_motion, object_outline

# Sizes of the dead leaves, as fractions of the texture's shorter side.
_LEAF_RADII = (0.02, 0.4)
# Std of the per-frame sensor noise, in 8-bit levels.
_NOISE_STD = 2.5
# Std of the drifting shadows, as a fraction of the light.
_SHADOW_DEPTH = 0.04
# Size in pixels of the class's object as drawn once (then warped).
_ACTOR_SCALE = 32
# Std of the lens blur, in pixels.
_BLUR_SIGMA = 0.8


def multiscale_noise(rng: np.random.Generator, height: int, width: int,
                     octaves: int = 5) -> np.ndarray:
    """Zero-mean noise with equal energy per octave (a 1/f spectrum).

    Returns:
        np.ndarray: Noise of shape (height, width), float32, std about 1.
    """
    total = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        step = 2 ** octave
        coarse = rng.standard_normal(
            (max(2, height // step), max(2, width // step)), np.float32)
        total += cv2.resize(coarse, (width, height),
                            interpolation=cv2.INTER_CUBIC)
    return total / math.sqrt(octaves)


def dead_leaves(rng: np.random.Generator, height: int, width: int,
                leaves: int = 300) -> np.ndarray:
    """A textured dead-leaves image.

    Discs of radius drawn from a 1/r^3 law (scale invariance) fall on the
    image one over the other; each has its own colour, and a multi-scale
    noise texture of random strength modulates the whole image.

    Returns:
        np.ndarray: RGB image of shape (height, width, 3), float32 in
        [0, 255].
    """
    side = min(height, width)
    low, high = (r * side for r in _LEAF_RADII)
    # Inverse CDF of p(r) ~ r^-3 on [low, high].
    u = rng.uniform(size=leaves)
    radii = 1 / np.sqrt(low ** -2 - u * (low ** -2 - high ** -2))
    centres = rng.uniform((0, 0), (width, height), size=(leaves, 2))
    grey = rng.uniform(40, 200, size=(leaves, 1))
    colours = grey + 0.4 * (rng.uniform(20, 235, size=(leaves, 3)) - grey)
    image = np.empty((height, width, 3), np.float32)
    image[:] = rng.uniform(40, 200)
    for (x, y), radius, colour in zip(centres, radii, colours):
        cv2.circle(image, (int(x * 16), int(y * 16)), int(radius * 16),
                   tuple(float(c) for c in colour), -1, cv2.LINE_AA, 4)
    texture = multiscale_noise(rng, height, width)
    strength = 3 + 10 * multiscale_noise(rng, height, width, 2) ** 2
    image += (texture * strength)[..., None]
    # Optical blur: no real lens resolves single-pixel detail.
    return np.clip(cv2.GaussianBlur(image, (0, 0), _BLUR_SIGMA), 0, 255)


def _shake(rng: np.random.Generator, num_frames: int,
           amplitude: float) -> np.ndarray:
    """Smoothed white noise of shape (T, 2) and std ``amplitude``
    pixels: hand-held camera shake."""
    kernel = np.hanning(7) / np.hanning(7).sum()
    steps = rng.standard_normal((num_frames + len(kernel) - 1, 2))
    smooth = np.stack([np.convolve(steps[:, i], kernel, 'valid')
                       for i in range(2)], 1)
    return amplitude * smooth / smooth.std(0)


def _wandering(rng: np.random.Generator, t: np.ndarray,
               extent: np.ndarray, speed: float) -> np.ndarray:
    """A path of shape (T, 2) in pixels at times ``t`` (0 to 1): a random
    start within ``extent`` (x, y), a drift and sinusoids of 1 to 6 cycles
    per clip, all of about ``speed`` times ``extent``."""
    cycles = np.arange(1, 7)
    amplitude = rng.normal(0, speed, size=(len(cycles), 2)) / cycles[:, None]
    phase = rng.uniform(0, 2 * math.pi, size=(len(cycles), 2))
    waves = np.sin(2 * math.pi * cycles[:, None, None] * t[None, :, None] +
                   phase[:, None])
    drift = rng.normal(0, speed, size=2) * t[:, None]
    return (rng.uniform(0, 1, size=2) + drift +
            (amplitude[:, None] * waves).sum(0)) * extent


def _affine(centre: np.ndarray, angle: float, scale: float,
            target: np.ndarray) -> np.ndarray:
    """2x3 matrix that turns by ``angle``, scales by ``scale`` about
    ``centre`` and moves it to ``target`` (source to frame pixels)."""
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return np.hstack([rotation, (target - rotation @ centre)[:, None]])


class _Sprite(NamedTuple):
    """A moving object: a mask and a texture of twice its side that
    slides under it, with its per-frame pose.

    ``mask`` (S, S) and ``texture`` (2S, 2S, 3) are float32; ``path``
    (T, 2) and ``slide`` (T, 2) are pixels, ``spin`` (T, ) radians and
    ``grow`` (T, ) scale factors.
    """
    mask: np.ndarray
    texture: np.ndarray
    path: np.ndarray
    slide: np.ndarray
    spin: np.ndarray
    grow: np.ndarray

    def paste(self, canvas: np.ndarray, index: int) -> None:
        """Blend frame ``index`` of the sprite into ``canvas`` (H, W, 3)
        in place, warping only the box the sprite can cover."""
        side = len(self.mask)
        centre, angle, scale = (self.path[index], self.spin[index],
                                self.grow[index])
        reach = scale * side * 0.75
        left, top = np.maximum(0, np.floor(centre - reach)).astype(int)
        right = min(canvas.shape[1], math.ceil(centre[0] + reach))
        bottom = min(canvas.shape[0], math.ceil(centre[1] + reach))
        if right <= left or bottom <= top:
            return
        box = (right - left, bottom - top)
        target = centre - (left, top)
        alpha = cv2.warpAffine(
            self.mask, _affine(np.full(2, side / 2), angle, scale, target),
            box)
        layer = cv2.warpAffine(
            self.texture,
            _affine(np.full(2, float(side)) + self.slide[index], angle,
                    scale, target),
            box, borderMode=cv2.BORDER_REFLECT_101)
        region = canvas[top:bottom, left:right]
        region += alpha[..., None] * (layer - region)


def _ellipse_sprite(rng: np.random.Generator, t: np.ndarray,
                    extent: np.ndarray) -> _Sprite:
    """An ellipse moving, turning and growing or shrinking on its own,
    its texture sliding inside it."""
    side = int(rng.uniform(0.15, 0.45) * extent.max())
    mask = np.zeros((side, side), np.float32)
    axes = (int(side * rng.uniform(0.3, 0.5) * 16),
            int(side * rng.uniform(0.15, 0.45) * 16))
    cv2.ellipse(mask, (side * 8, side * 8), axes, 0, 0, 360, 1.0, -1,
                cv2.LINE_AA, 4)
    return _Sprite(
        mask, dead_leaves(rng, 2 * side, 2 * side, leaves=100),
        path=_wandering(rng, t, extent, 0.6),
        slide=_wandering(rng, t, np.full(2, side / 2), 1.5),
        spin=rng.uniform(0, 2 * math.pi) + rng.normal(0, 2) * t,
        grow=1 + rng.uniform(-0.4, 0.4) * t)


def _class_sprite(label: int, rng: np.random.Generator, num_frames: int,
                  extent: np.ndarray) -> _Sprite:
    """The class's object on the class's path (of
    :func:`~mmblvnet.datasets.synthetic.forward_motion`, in a square of
    the frame's longer side centred on the frame), textured."""
    side = extent.max()
    centres, angles, scales = forward_motion(label // 2, rng, num_frames,
                                             int(side))
    shape = 'arrow' if label // 2 == 2 else ('bar', 'triangle', 'arrow')[
        rng.integers(3)]
    mask = np.zeros((2 * _ACTOR_SCALE + 8, ) * 2, np.float32)
    points = object_outline(shape, _ACTOR_SCALE) + len(mask) / 2
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1.0,
                 cv2.LINE_AA, 4)
    return _Sprite(
        mask, dead_leaves(rng, 2 * len(mask), 2 * len(mask), leaves=30),
        path=centres - (side - extent) / 2, slide=np.zeros((num_frames, 2)),
        spin=angles, grow=scales / _ACTOR_SCALE)


def render_scene(label: int, rng: np.random.Generator, num_frames: int,
                 width: int, height: int, objects: int = 6) -> np.ndarray:
    """Render a scene of a class (see the module docstring).

    Args:
        label (int): Class index into
            :data:`~mmblvnet.datasets.synthetic.CLASSES`; the scene of an
            odd label is the scene of the even label of its pair rendered
            from the same draws and reversed in time.
        rng (np.random.Generator): Source of every random choice.
        num_frames (int): Frames.
        width (int): Frame width in pixels.
        height (int): Frame height in pixels.
        objects (int): Moving objects besides the class's one.

    Returns:
        np.ndarray: RGB frames of shape (T, height, width, 3), uint8.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label must be in [0, {len(CLASSES)}), '
                         f'got {label}')
    size = (width, height)
    extent = np.array(size, float)
    t = np.linspace(0.0, 1.0, num_frames)
    # Camera: the frame looks at a moving point of a background twice its
    # size, with zoom, tilt and shake.
    background = dead_leaves(rng, 2 * height, 2 * width)
    look = extent / 2 + _wandering(rng, t, extent, 0.4)
    look += _shake(rng, num_frames, rng.uniform(1.0, 3.0))
    zoom = 1 + rng.uniform(-0.2, 0.2) * t
    tilt = rng.uniform(-0.05, 0.05) * t
    sprites = [_ellipse_sprite(rng, t, extent) for _ in range(objects)]
    sprites.append(_class_sprite(label, rng, num_frames, extent))
    # Lighting: a global drift and soft shadows (leaves, clouds) drifting
    # across the scene on their own path.
    shadows = cv2.GaussianBlur(
        multiscale_noise(rng, 2 * height, 2 * width), (0, 0), 4.0)
    shadows *= _SHADOW_DEPTH / shadows.std()
    shadow_path = extent / 2 + _wandering(rng, t, extent, 0.2)
    gain = 1 + rng.uniform(0.05, 0.15) * np.sin(
        2 * math.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * math.pi))
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        canvas = cv2.warpAffine(
            background, _affine(look[i], tilt[i], zoom[i], extent / 2), size,
            borderMode=cv2.BORDER_REFLECT_101)
        for sprite in sprites:
            sprite.paste(canvas, i)
        light = gain[i] + cv2.warpAffine(
            shadows, _affine(shadow_path[i], 0.0, 1.0, extent / 2), size,
            borderMode=cv2.BORDER_REFLECT_101)
        canvas *= light[..., None]
        canvas += rng.standard_normal(canvas.shape, np.float32) * _NOISE_STD
        frames[i] = np.clip(canvas, 0, 255, out=canvas)
    return frames[::-1].copy() if label % 2 else frames
