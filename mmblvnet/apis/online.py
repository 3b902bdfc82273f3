"""Online recognition: one frame pair at a time, with stream buffers.

A bLVNet-TAM recognizer whose TAMs are causal (``tam_cfg=dict(...,
causal=True)``) computes the map of a frame pair from that pair and the
ones before it only. :class:`OnlineRecognizer` runs such a model one pair
per stream and call: every TAM is replaced by a :class:`StreamingTAM`
that keeps the inputs of the last ``k - 1`` frames it saw (its stream
buffer, zeros at the start, as the frames before a clip count in a clip
forward) and blends them with the new ones. The rest of the network has
no memory across pairs. So from empty buffers, pair ``j`` gets exactly
the map the clip forward gives pair ``j``, at the cost of one pair instead
of a whole clip.
"""
import copy
from collections import deque
from typing import Tuple

import torch
from torch import Tensor, nn

from ..models.backbones.blresnet import bLResNet
from ..models.common.tam import TAM


class StreamingTAM(nn.Module):
    """A causal :class:`TAM` applied to one time step per stream and call.

    Shares the weight of the TAM it wraps. Calls mirror the TAM's:
    :meth:`forward` takes one frame (or, in bLResNet's layer4, one pair
    map) per stream, :meth:`forward_pairs` the even and the odd frame of
    one pair per stream.

    Args:
        tam (TAM): A causal TAM.
    """

    def __init__(self, tam: TAM) -> None:
        super().__init__()
        if not tam.causal:
            raise ValueError(
                'online recognition needs causal TAMs (an offline TAM '
                'blends the next frame too): build the model with '
                'tam_cfg=dict(blending_frames=3, causal=True) (bLResNet) '
                'or causal=True (ResNetTAM, TAMNeck)')
        self.tam = tam
        self.buffer = None  # (streams, k - 1, C, H, W), set by a call

    def reset(self) -> None:
        """Forget the frames seen (the next call starts a new clip)."""
        self.buffer = None

    def _history(self, step: Tensor) -> Tensor:
        """The buffered frames, zeros before the first call."""
        if self.buffer is None:
            return step.new_zeros(step.shape[0],
                                  self.tam.blending_frames - 1,
                                  *step.shape[1:])
        return self.buffer

    def _blend_last(self, frames: Tensor) -> Tensor:
        """TAM's output at the last of ``frames`` (S, k, C, H, W)."""
        weight = self.tam.weight.view(1, *self.tam.weight.shape, 1, 1)
        terms = frames * weight
        if self.tam.blending_method == 'max':
            return terms.amax(1).relu_()
        return terms.sum(1).relu_()

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): One step per stream, (S, C, H, W).

        Returns:
            torch.Tensor: The blended step, (S, C, H, W).
        """
        frames = torch.cat((self._history(x), x.unsqueeze(1)), 1)
        self.buffer = frames[:, 1:]
        return self._blend_last(frames)

    def forward_pairs(self, even: Tensor,
                      odd: Tensor) -> Tuple[Tensor, Tensor]:
        """Args:
            even (torch.Tensor): The even frame of one pair per stream,
                (S, C, H, W).
            odd (torch.Tensor): The odd frame (``even`` itself where both
                frames of a pair hold one map).

        Returns:
            tuple[torch.Tensor]: Blended even and odd frames, each
            (S, C, H, W).
        """
        k = self.tam.blending_frames
        frames = torch.cat(
            (self._history(even), even.unsqueeze(1), odd.unsqueeze(1)), 1)
        self.buffer = frames[:, 2:]
        return (self._blend_last(frames[:, :k]),
                self._blend_last(frames[:, 1:k + 1]))


class OnlineRecognizer:
    """Class scores that follow a stream, one frame pair per call.

    Args:
        model (nn.Module): A ``Recognizer2D`` with a :class:`bLResNet`
            backbone whose TAMs are causal and a segment head (e.g.
            ``SegmentHead``); it is copied, the original is not changed.
        window (int): Pairs whose class logits are averaged into the
            scores (``T / 2`` for the span of a training clip).

    Example:
        >>> online = OnlineRecognizer(model, window=8)
        >>> for pair in pairs:  # (streams, 2, 3, H, W), normalized
        ...     scores = online.step(pair)  # (streams, num_classes)
    """

    def __init__(self, model: nn.Module, window: int) -> None:
        if not isinstance(getattr(model, 'backbone', None), bLResNet):
            raise TypeError('OnlineRecognizer needs a recognizer with a '
                            'bLResNet backbone, got '
                            f'{type(getattr(model, "backbone", model))}')
        if window < 1:
            raise ValueError(f'window must be at least one pair, got '
                             f'{window}')
        self.model = copy.deepcopy(model).eval()
        self.streaming_tams = []
        for module in list(self.model.backbone.modules()):
            for name, child in module.named_children():
                if isinstance(child, TAM):
                    streaming = StreamingTAM(child)
                    setattr(module, name, streaming)
                    self.streaming_tams.append(streaming)
        self.logits = deque(maxlen=window)

    def reset(self) -> None:
        """Empty every stream buffer and the window of scores."""
        for tam in self.streaming_tams:
            tam.reset()
        self.logits.clear()

    @torch.no_grad()
    def features(self, pair: Tensor) -> Tensor:
        """Backbone map of the next pair of every stream.

        Args:
            pair (torch.Tensor): Normalized frames, (S, 2, C, H, W).

        Returns:
            torch.Tensor: (S, 2048, H / 32, W / 32), the map the clip
            forward gives this pair.
        """
        if pair.dim() != 5 or pair.shape[1] != 2:
            raise ValueError('OnlineRecognizer takes one frame pair per '
                             'stream, (streams, 2, C, H, W), but got '
                             f'shape {tuple(pair.shape)}')
        return self.model.backbone.pair_maps(pair.flatten(0, 1))

    @torch.no_grad()
    def step(self, pair: Tensor) -> Tensor:
        """Scores after the next pair of every stream.

        Args:
            pair (torch.Tensor): Normalized frames, (S, 2, C, H, W).

        Returns:
            torch.Tensor: (S, num_classes): the head's logits of the last
            ``window`` pairs averaged, then the head's ``average_clips``
            (a softmax for ``'prob'``), as a clip of those pairs is scored.
        """
        head = self.model.cls_head
        self.logits.append(head(self.features(pair), num_segs=1))
        return head.average_clip(
            torch.stack(tuple(self.logits)).mean(0), num_segs=1)
