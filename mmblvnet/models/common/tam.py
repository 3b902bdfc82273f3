"""Temporal Aggregation Module (TAM): depthwise temporal fusion.

For a clip of ``T`` frames and ``k = blending_frames`` (odd), TAM computes

    out[t] = ReLU(sum_i w_i * x[t + i - k // 2])

with one learnable weight per channel and offset (``k`` depthwise 1x1
convolutions) and frames outside the clip counted as zero. A causal TAM
blends the frame and the ``k - 1`` before it instead,

    out[t] = ReLU(sum_i w_i * x[t + i - (k - 1)]),

so that an output never depends on a later frame (what a stream needs).
``blending_method='max'`` takes the maximum over the ``k`` terms instead of
the sum.

The implementation never builds zero-padded or stacked copies: it
accumulates the ``k`` shifted, channel-scaled slices into one output
tensor, so TAM costs what its FLOPs say. It can also produce the outputs
of the even and odd frames directly, from a clip stored frame by frame or
as one map per pair of identical frames (what bLResNet holds after each
big-little fusion); both give exactly the numbers of the plain formula
applied to the expanded clip.

ONNX export forces the export form of a ``'sum'`` blend
(:func:`_masked_shift_sum`): depthwise 1x1 convolutions of whole frames
rotated along the batch, masked where a shift crosses into the next clip
or wraps around (no slice writes, no 5-D views, no padding), which a graph
runtime keeps in its own layout and, in int8, on int8 kernels. With the
rest of bLResNet's export form it runs bLVNet-TAM-50 8x2 at batch 1 1.8x
faster in ONNX Runtime int8 and 3.0x in OpenVINO int8 than the eager form
exported (docs/bench/forward_paths.md). In eager PyTorch the sums stay
slices and ``addcmul_``: the masked form's rotated copies made the
quickstart's training step 1.36x and batch-1 inference 1.33x slower.
"""
import math
from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLENDING_METHODS = ('sum', 'max')

# One blending term: (time offset, source index, channel weights (C, )).
_Term = Tuple[int, int, Tensor]


def check_num_segments(num_segments: int) -> None:
    """Raise a ValueError unless ``num_segments`` is a positive integer."""
    if (isinstance(num_segments, bool) or not isinstance(num_segments, int)
            or num_segments < 1):
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
    for offset, source, weight in terms:
        key = (offset, source)
        merged[key] = merged[key] + weight if key in merged else weight
    return [(offset, source, weight)
            for (offset, source), weight in merged.items()]


def _shifted_ranges(offset: int, length: int) -> Tuple[slice, slice]:
    """Output and input slices along time for a term reading ``t + offset``."""
    dst = slice(max(0, -offset), length - max(0, offset))
    src = slice(max(0, offset), length + min(0, offset))
    return dst, src


def _shifted_terms(sources: Sequence[Tensor], terms: List[_Term]
                   ) -> Iterator[Tuple[slice, Tensor, Tensor]]:
    """The terms after the first, as (output steps, the source steps they
    read, channel weights of shape (C, 1, 1)); terms reading only outside
    the clip are left out."""
    length = sources[0].shape[1]
    for offset, source, weight in terms[1:]:
        if abs(offset) < length:
            dst, src = _shifted_ranges(offset, length)
            yield dst, sources[source][:, src], weight.view(-1, 1, 1)


def _weighted_sum(sources: Sequence[Tensor], terms: List[_Term]) -> Tensor:
    """Sum of shifted, channel-scaled clips (before ReLU).

    Args:
        sources (Sequence[torch.Tensor]): Clips, each of shape
            (N, L, C, H, W).
        terms (list[tuple]): ``(offset, source, weight)`` triplets, the
            offset-0 term first.

    Returns:
        torch.Tensor: The sum, of shape (N, L, C, H, W).
    """
    _, source, weight = terms[0]
    out = sources[source] * weight.view(-1, 1, 1)
    for dst, shifted, weight in _shifted_terms(sources, terms):
        out[:, dst].addcmul_(shifted, weight)
    return out


def _rotate_frames(frames: Tensor, offset: int) -> Tensor:
    """``frames[(g + offset) % B]`` at every frame ``g`` of (B, C, H, W)
    frames: two slices and one concatenation along the batch, which a
    runtime runs in its own layout and, in int8, on int8 data (a pad
    would run in float32 there)."""
    return torch.cat((frames[offset:], frames[:offset]))


def _frames_inside(offset: int, length: int, num_clips: int,
                   like: Tensor) -> Tensor:
    """1 at each frame whose ``t + offset`` lies in its clip, else 0, as
    a (N * L, 1, 1, 1) tensor of ``like``'s dtype and device."""
    dst, _ = _shifted_ranges(offset, length)
    inside = torch.tensor(
        [float(dst.start <= step < dst.stop) for step in range(length)],
        dtype=like.dtype,
        device=like.device)
    return inside.repeat(num_clips).view(-1, 1, 1, 1)


def _masked_shift_sum(sources: Sequence[Tensor], terms: List[_Term],
                      length: int) -> Tensor:
    """:func:`_weighted_sum` on frames, without 5-D views or slice writes.

    Every term is a depthwise 1x1 convolution. A shifted term convolves
    the frames of the whole batch rotated by its offset, times a 0/1 mask
    per frame: at the first (or last) steps of a clip the rotation reads
    the neighbouring clip, or wraps around to the other end of the batch,
    and the mask zeroes those frames. Only the rotation and the mask run
    outside a runtime's convolution layout (ONNX Runtime's NCHWc); the
    sum of the terms and the ReLU after it fuse into the convolutions
    there, and int8 runs every term with its int8 kernels. The result
    equals :func:`_weighted_sum` (products by zero instead of skipped
    terms). Used during ONNX export only (see the module docstring).

    Args:
        sources (Sequence[torch.Tensor]): Frames, each of shape
            (N * L, C, H, W), each clip's ``L`` steps contiguous.
        terms (list[tuple]): ``(offset, source, weight)`` triplets, at
            most one per (offset, source), one with offset 0.
        length (int): Steps ``L`` per clip.

    Returns:
        torch.Tensor: The sum (before ReLU), of shape (N * L, C, H, W).
    """
    num_clips = sources[0].shape[0] // length
    out = None
    # Unshifted terms last: their convolutions take the sum as an input.
    for offset, source, weight in sorted(terms, key=lambda term: not term[0]):
        if abs(offset) >= length:
            continue
        frames = sources[source]
        if offset:
            frames = _rotate_frames(frames, offset) * _frames_inside(
                offset, length, num_clips, frames)
        term = F.conv2d(frames, weight.view(-1, 1, 1, 1),
                        groups=weight.numel())
        out = term if out is None else term + out
    return out


def _max_of_terms(sources: Sequence[Tensor], terms: List[_Term]) -> Tensor:
    """Element-wise maximum of shifted, channel-scaled clips (and of zero
    where a shift reads outside the clip); arguments as
    :func:`_weighted_sum`."""
    _, source, weight = terms[0]
    out = sources[source] * weight.view(-1, 1, 1)
    for dst, shifted, weight in _shifted_terms(sources, terms):
        # max(..., 0) before ReLU equals the zero-padded reference.
        blended = torch.maximum(out[:, dst], shifted * weight)
        out = torch.cat((out[:, :dst.start], blended, out[:, dst.stop:]), 1)
    return out


def _blend(sources: Sequence[Tensor], terms: List[_Term],
           method: str) -> Tensor:
    """Blend shifted, channel-scaled clips and apply ReLU.

    Args:
        sources (Sequence[torch.Tensor]): Clips, each of shape
            (N, L, C, H, W).
        terms (list[tuple]): ``(offset, source, weight)`` triplets; the
            output at step ``l`` gathers ``weight * sources[source][:, l +
            offset]`` (zero where ``l + offset`` is outside the clip). One
            term must have offset 0.
        method (str): ``'sum'`` or ``'max'``.

    Returns:
        torch.Tensor: Blended clips of shape (N, L, C, H, W).
    """
    # The offset-0 term first: the sums start from it.
    terms = sorted(terms, key=lambda term: term[0] != 0)
    if method == 'max':
        return _max_of_terms(sources, terms).relu_()
    return _weighted_sum(sources, terms).relu_()


class TAM(nn.Module):
    """Temporal Aggregation Module.

    Args:
        in_channels (int): Channels ``C`` of the frames.
        num_segments (int): Frames ``T`` per clip.
        blending_frames (int): Odd number ``k`` of neighbouring frames
            blended into each output frame. Defaults to 3.
        blending_method (str): ``'sum'`` or ``'max'``. Defaults to ``'sum'``.
        causal (bool): Blend frames ``t - k + 1 .. t`` instead of
            ``t - k // 2 .. t + k // 2``; ``k`` may then be even. Defaults
            to False (the paper's TAM).

    The ``k`` depthwise 1x1 kernels are held in one parameter ``weight`` of
    shape (k, C); row ``i`` weights frame ``t + i - k // 2``, or
    ``t + i - (k - 1)`` when causal.
    """

    def __init__(self,
                 in_channels: int,
                 num_segments: int,
                 blending_frames: int = 3,
                 blending_method: str = 'sum',
                 causal: bool = False) -> None:
        super().__init__()
        check_num_segments(num_segments)
        if (isinstance(blending_frames, bool)
                or not isinstance(blending_frames, int) or blending_frames < 1
                or (blending_frames % 2 == 0 and not causal)):
            kind = 'a positive' if causal else 'an odd positive'
            raise ValueError(f'blending_frames must be {kind} integer, but '
                             f'got {blending_frames!r} (e.g. '
                             'blending_frames=3, the paper\'s setting)')
        if blending_method not in BLENDING_METHODS:
            raise ValueError(f'blending_method must be one of '
                             f'{BLENDING_METHODS}, but got '
                             f'{blending_method!r}')
        self.in_channels = in_channels
        self.num_segments = num_segments
        self.blending_frames = blending_frames
        self.blending_method = blending_method
        self.causal = causal
        self.weight = nn.Parameter(torch.empty(blending_frames, in_channels))
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal (fan_out) init, as for a depthwise 1x1 conv."""
        nn.init.normal_(self.weight, 0.0, math.sqrt(2.0 / self.in_channels))

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, '
                f'num_segments={self.num_segments}, '
                f'blending_frames={self.blending_frames}, '
                f'blending_method={self.blending_method!r}, '
                f'causal={self.causal}')

    def offsets(self) -> range:
        """Time offset of the frame each row of ``weight`` reads."""
        first = 1 - self.blending_frames if self.causal else (
            -(self.blending_frames // 2))
        return range(first, first + self.blending_frames)

    def _pair_terms(self, parity: int, shared_maps: bool) -> List[_Term]:
        """Blending terms of the frames of one parity.

        Target frame ``2 * j + parity`` reads frame ``2 * j + parity + s``:
        pair ``j + (parity + s) // 2``, source ``(parity + s) % 2`` (even or
        odd frames), or the single source when a pair shares one map.
        """
        terms = []
        for row, shift in enumerate(self.offsets()):
            offset, source = divmod(parity + shift, 2)
            terms.append((offset, 0 if shared_maps else source,
                          self.weight[row]))
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
        terms = [(offset, 0, self.weight[row])
                 for row, offset in enumerate(self.offsets())]
        if self._exports_sum():
            return _masked_shift_sum((x, ), terms, self.num_segments).relu_()
        clips = x.view(num_clips, self.num_segments, *x.shape[1:])
        return _blend((clips, ), terms, self.blending_method).view_as(x)

    def forward_pairs(self, even: Tensor,
                      odd: Tensor) -> Tuple[Tensor, Tensor]:
        """TAM outputs of the even and of the odd frames of each clip.

        Args:
            even (torch.Tensor): Frames ``0, 2, 4, ...`` of each clip, shape
                (N * T / 2, C, H, W).
            odd (torch.Tensor): Frames ``1, 3, 5, ...``, same shape. Pass
                the same tensor as ``even`` when both frames of a pair hold
                one map (bLResNet after a fusion): the result is exact for
                the duplicated clip at half the cost.

        Returns:
            tuple[torch.Tensor]: Blended even and odd frames, each of shape
            (N * T / 2, C, H, W); equal to ``forward`` on the interleaved
            clip, taken at those frames.
        """
        num_pairs = self.num_segments // 2
        num_clips = clips_in_batch(even, num_pairs, 'TAM')
        shared_maps = even is odd
        sources = (even, ) if shared_maps else (even, odd)
        if self._exports_sum():
            return tuple(
                _masked_shift_sum(sources, self._pair_terms(
                    parity, shared_maps), num_pairs).relu_()
                for parity in (0, 1))
        shape = (num_clips, num_pairs, *even.shape[1:])
        clips = [source.view(shape) for source in sources]
        return tuple(
            _blend(clips, self._pair_terms(parity, shared_maps),
                   self.blending_method).view_as(even)
            for parity in (0, 1))

    def _exports_sum(self) -> bool:
        """Whether a ``'sum'`` blend is being exported to ONNX (then it
        takes the export form, :func:`_masked_shift_sum`)."""
        return (self.blending_method == 'sum'
                and torch.onnx.is_in_onnx_export())
