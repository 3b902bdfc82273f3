"""Temporal Aggregation Module (TAM): depthwise temporal fusion.

For a clip of ``T`` frames and ``k = blending_frames`` (odd), TAM computes

    out[t] = ReLU(sum_i w_i * x[t + i - k // 2])

with one learnable weight per channel and offset (``k`` depthwise 1x1
convolutions) and frames outside the clip counted as zero.
``blending_method='max'`` takes the maximum over the ``k`` terms instead of
the sum.

The implementation never builds zero-padded or stacked copies: it
accumulates the ``k`` shifted, channel-scaled slices into one output
tensor in place, so TAM costs what its FLOPs say. It can also produce the
outputs of the even and odd frames directly, from a clip stored frame by
frame or as one map per pair of identical frames (what bLResNet holds after
each big-little fusion); both give exactly the numbers of the plain formula
applied to the expanded clip.
"""
import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

BLENDING_METHODS = ('sum', 'max')

# One blending term: (map offset, sub-frame index, channel weights (C, )).
_Term = Tuple[int, int, Tensor]


def check_num_segments(num_segments: int) -> None:
    """Raise a ValueError unless ``num_segments`` is a positive integer."""
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError('num_segments must be a positive integer, '
                         f'but got num_segments={num_segments!r}')


def clips_in_batch(x: Tensor, num_segments: int, owner: str) -> int:
    """Number of clips in a batch of frames, with a clear error if ragged.

    Args:
        x (torch.Tensor): Frames of shape (N * num_segments, C, H, W).
        num_segments (int): Frames per clip.
        owner (str): Module name used in the error message.

    Returns:
        int: ``N``, the number of clips.
    """
    if x.dim() != 4 or x.shape[0] % num_segments != 0:
        raise ValueError(
            f'{owner} expects frames of shape (N * num_segments, C, H, W) '
            f'with num_segments={num_segments}, but got a tensor of shape '
            f'{tuple(x.shape)}; the batch must be a multiple of '
            'num_segments (check num_clips in the data pipeline)')
    return x.shape[0] // num_segments


def _merge_equal_terms(terms: List[_Term]) -> List[_Term]:
    """Sum the weights of terms that read the same input slice."""
    merged = {}
    for offset, sub_frame, weight in terms:
        key = (offset, sub_frame)
        merged[key] = merged[key] + weight if key in merged else weight
    return [(offset, sub, weight) for (offset, sub), weight in merged.items()]


def _shifted_ranges(offset: int, length: int) -> Tuple[slice, slice]:
    """Output and input slices along time for a term reading ``t + offset``."""
    dst = slice(max(0, -offset), length - max(0, offset))
    src = slice(max(0, offset), length + min(0, offset))
    return dst, src


def _blend(x: Tensor, terms: List[_Term], method: str) -> Tensor:
    """Blend shifted, channel-scaled slices of a clip and apply ReLU.

    Args:
        x (torch.Tensor): Clips of shape (N, L, S, C, H, W): ``L`` time
            steps of ``S`` sub-frames each.
        terms (list[tuple]): ``(offset, sub_frame, weight)`` triplets; the
            output at step ``l`` gathers ``weight * x[:, l + offset,
            sub_frame]`` (zero where ``l + offset`` is outside the clip).
            One term must have offset 0.
        method (str): ``'sum'`` or ``'max'``.

    Returns:
        torch.Tensor: Blended clips of shape (N, L, C, H, W).
    """
    length = x.shape[1]
    terms = sorted(terms, key=lambda term: term[0] != 0)
    _, sub_frame, weight = terms[0]
    out = x[:, :, sub_frame] * weight.view(-1, 1, 1)
    for offset, sub_frame, weight in terms[1:]:
        if abs(offset) >= length:
            continue
        dst, src = _shifted_ranges(offset, length)
        shifted = x[:, src, sub_frame]
        if method == 'sum':
            out[:, dst].addcmul_(shifted, weight.view(-1, 1, 1))
        else:
            # max(..., 0) before ReLU equals the zero-padded reference.
            blended = torch.maximum(out[:, dst],
                                    shifted * weight.view(-1, 1, 1))
            out = torch.cat(
                (out[:, :dst.start], blended, out[:, dst.stop:]), 1)
    return out.relu_()


class TAM(nn.Module):
    """Temporal Aggregation Module.

    Args:
        in_channels (int): Channels ``C`` of the frames.
        num_segments (int): Frames ``T`` per clip.
        blending_frames (int): Odd number ``k`` of neighbouring frames
            blended into each output frame. Defaults to 3.
        blending_method (str): ``'sum'`` or ``'max'``. Defaults to ``'sum'``.

    The ``k`` depthwise 1x1 kernels are held in one parameter ``weight`` of
    shape (k, C); row ``i`` weights frame ``t + i - k // 2``.
    """

    def __init__(self,
                 in_channels: int,
                 num_segments: int,
                 blending_frames: int = 3,
                 blending_method: str = 'sum') -> None:
        super().__init__()
        check_num_segments(num_segments)
        if (not isinstance(blending_frames, int) or blending_frames < 1
                or blending_frames % 2 == 0):
            raise ValueError('blending_frames must be an odd positive '
                             f'integer, but got {blending_frames!r}')
        if blending_method not in BLENDING_METHODS:
            raise ValueError(f'blending_method must be one of '
                             f'{BLENDING_METHODS}, but got '
                             f'{blending_method!r}')
        self.in_channels = in_channels
        self.num_segments = num_segments
        self.blending_frames = blending_frames
        self.blending_method = blending_method
        self.weight = nn.Parameter(torch.empty(blending_frames, in_channels))
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out) init, as for a depthwise 1x1 conv."""
        nn.init.normal_(self.weight, 0.0, math.sqrt(2.0 / self.in_channels))

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, '
                f'num_segments={self.num_segments}, '
                f'blending_frames={self.blending_frames}, '
                f'blending_method={self.blending_method!r}')

    def _terms(self, parity: int, frames_per_map: int) -> List[_Term]:
        """Blending terms of the frames of one parity.

        Target frame ``2 * j + parity`` reads frame ``2 * j + parity + s``,
        which is sub-frame ``(parity + s) % 2`` of pair ``j + (parity + s)
        // 2`` (frames stored one by one) or the single map of that pair
        (``frames_per_map=2``).
        """
        half = self.blending_frames // 2
        terms = []
        for row, shift in enumerate(range(-half, half + 1)):
            offset, sub_frame = divmod(parity + shift, 2)
            if frames_per_map == 2:
                sub_frame = 0
            terms.append((offset, sub_frame, self.weight[row]))
        if self.blending_method == 'sum':
            terms = _merge_equal_terms(terms)
        return terms

    def forward(self, x: Tensor) -> Tensor:
        """Blend every frame with its neighbours.

        Args:
            x (torch.Tensor): Frames of shape (N * T, C, H, W), each clip's
                ``T`` frames contiguous.

        Returns:
            torch.Tensor: Blended frames of shape (N * T, C, H, W).
        """
        num_clips = clips_in_batch(x, self.num_segments, 'TAM')
        clips = x.view(num_clips, self.num_segments, 1, *x.shape[1:])
        half = self.blending_frames // 2
        terms = [(row - half, 0, self.weight[row])
                 for row in range(self.blending_frames)]
        out = _blend(clips, terms, self.blending_method)
        return out.view_as(x)

    def forward_pairs(self, x: Tensor,
                      frames_per_map: int = 1) -> Tuple[Tensor, Tensor]:
        """Blended even and odd frames of clips with an even frame count.

        Args:
            x (torch.Tensor): Either frames of shape (N * T, C, H, W)
                (``frames_per_map=1``) or one map per pair of identical
                frames, shape (N * T / 2, C, H, W) (``frames_per_map=2``).
            frames_per_map (int): 1 or 2, see ``x``.

        Returns:
            tuple[torch.Tensor]: TAM outputs of the even frames
            ``0, 2, 4, ...`` and of the odd frames ``1, 3, 5, ...``, each of
            shape (N * T / 2, C, H, W); equal to ``forward`` on the
            expanded clip, taken at those frames.
        """
        num_pairs = self.num_segments // 2
        num_clips = clips_in_batch(x, self.num_segments // frames_per_map,
                                   'TAM')
        clips = x.view(num_clips, num_pairs, 2 // frames_per_map,
                       *x.shape[1:])
        outputs = tuple(
            _blend(clips, self._terms(parity, frames_per_map),
                   self.blending_method).view(-1, *x.shape[1:])
            for parity in (0, 1))
        return outputs
