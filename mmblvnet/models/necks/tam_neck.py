"""TAM as a neck: temporal aggregation on top of any 2D backbone."""
from typing import Dict, Sequence, Tuple

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..common.tam import TAM


@MODELS.register_module()
class TAMNeck(BaseModule):
    """Temporal aggregation of a 2D backbone's last feature map.

    Used by MMAction2's ``Recognizer2D``, which hands a neck the backbone
    outputs as a sequence of maps shaped (N, C, S, H, W), ``S`` being the
    frames of all test views of a sample. The neck blends each clip of
    ``num_segments`` frames with a TAM and averages over time.

    The backbone must return a tuple of maps: for MMAction2's ``ResNet``
    use at least two ``out_indices`` (e.g. ``(2, 3)``), since a single index
    makes it return a bare tensor.

    Args:
        in_channels (int): Channels of the last feature map.
        num_segments (int): Frames ``T`` per clip.
        blending_frames (int): Frames blended by TAM. Defaults to 3.
        blending_method (str): ``'sum'`` or ``'max'``. Defaults to ``'sum'``.
        causal (bool): A causal TAM (frames ``t - k + 1 .. t``, see
            :class:`~mmblvnet.models.common.tam.TAM`). Defaults to False.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_segments: int,
                 blending_frames: int = 3,
                 blending_method: str = 'sum',
                 causal: bool = False,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tam = TAM(in_channels, num_segments, blending_frames,
                       blending_method, causal)

    @property
    def num_segments(self) -> int:
        """Frames ``T`` per clip (the TAM's)."""
        return self.tam.num_segments

    def forward(self, inputs: Sequence[Tensor],
                **kwargs) -> Tuple[Tensor, Dict]:
        """Args:
            inputs (Sequence[torch.Tensor]): Backbone maps, each of shape
                (N, C, S, H, W) with ``S`` a multiple of ``num_segments``.

        Returns:
            tuple: Features of shape (N, C, 1, H, W) and an empty dict of
            auxiliary losses.
        """
        if isinstance(inputs, Tensor) or not len(inputs):
            raise TypeError(
                'TAMNeck expects a sequence of (N, C, S, H, W) maps; make '
                'the backbone return a tuple (e.g. ResNet with '
                'out_indices=(2, 3))')
        x = inputs[-1]
        num_samples, channels, num_frames = x.shape[:3]
        frames = x.transpose(1, 2).reshape(-1, channels, *x.shape[3:])
        blended = self.tam(frames).view(num_samples, num_frames, channels,
                                        *x.shape[3:])
        return blended.mean(1).unsqueeze(2), dict()
