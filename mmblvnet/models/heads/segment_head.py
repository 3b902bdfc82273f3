"""TSN-style segment head of bLVNet-TAM."""
from typing import Optional

import torch.nn.functional as F
from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from mmengine.model.weight_init import normal_init
from torch import Tensor, nn


@MODELS.register_module()
class SegmentHead(BaseHead):
    """Per-frame classifier averaged over the segments of each clip.

    Spatial average pool, dropout and a linear layer on every frame, then
    the mean over the ``num_segs`` frames of a sample (the reference
    bLVNet-TAM head). Test views are merged by ``BaseHead`` according to
    ``average_clips``.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the backbone features.
        dropout_ratio (float): Dropout probability before the classifier.
            Defaults to 0.5.
        init_std (float): Std of the normal init of ``fc_cls``.
            Defaults to 0.001.
        **kwargs: Passed to :class:`BaseHead` (``loss_cls``,
            ``average_clips``, ``topk``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 2048,
                 dropout_ratio: float = 0.5,
                 init_std: float = 0.001,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        for name, value in (('num_classes', num_classes),
                            ('in_channels', in_channels)):
            if (isinstance(value, bool) or not isinstance(value, int)
                    or value < 1):
                raise ValueError(
                    f'SegmentHead: {name} must be a positive integer, but '
                    f'got {name}={value!r}; set cls_head.{name} in the '
                    'model config (num_classes: classes of the data set, '
                    'in_channels: 2048 for bLResNet)')
        super().__init__(num_classes, in_channels, init_cfg=init_cfg,
                         **kwargs)
        self.dropout_ratio = dropout_ratio
        self.init_std = init_std
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.fc_cls = nn.Linear(in_channels, num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, ``init_std``) weights and zero bias for ``fc_cls``."""
        normal_init(self.fc_cls, std=self.init_std)

    def forward(self, x: Tensor, num_segs: int, **kwargs) -> Tensor:
        """Classify every frame and average over the segments.

        Args:
            x (torch.Tensor): Features of shape (B * num_segs, C, H, W) or
                (B * num_segs, C).
            num_segs (int): Frames per sample (test views included).

        Returns:
            torch.Tensor: Class scores of shape (B, num_classes).
        """
        if x.dim() == 4:
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        if x.shape[0] % num_segs:
            raise ValueError(
                f'SegmentHead got {x.shape[0]} frame features, not a '
                f'multiple of num_segs={num_segs}')
        if self.dropout is not None:
            x = self.dropout(x)
        scores = self.fc_cls(x)
        return scores.view(-1, num_segs, self.num_classes).mean(1)
