"""Model arguments that cannot work fail when the model is built, with a
ValueError naming the argument, its value and the fix (not at the first
forward with a ZeroDivisionError, TypeError or shape error)."""
import pytest
from mmaction.registry import MODELS

from mmblvnet.models.backbones.blresnet import bLResNet
from mmblvnet.models.heads.segment_head import SegmentHead


def recognizer_cfg(**head):
    return dict(
        type='Recognizer2D',
        backbone=dict(type='bLResNet', depth=50, num_segments=4),
        cls_head=dict(type='SegmentHead', num_classes=5, in_channels=2048,
                      **head))


@pytest.mark.parametrize('kwargs, message', [
    (dict(alpha=0), 'alpha=0'),
    (dict(beta=0), 'beta=0'),
    (dict(alpha=True), 'alpha=True'),
    (dict(alpha=128), 'alpha=128'),
    (dict(beta=2.5), 'beta=2.5'),
    (dict(tam_cfg=dict(blending_frames=True)), 'blending_frames.*True'),
])
def test_backbone_rejects_unusable_ratios_and_tam_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bLResNet(50, 4, **kwargs)


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_classes=0), 'num_classes=0'),
    (dict(num_classes=True), 'num_classes=True'),
    (dict(num_classes=10, in_channels=0), 'in_channels=0'),
])
def test_segment_head_rejects_non_positive_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SegmentHead(**kwargs)


def test_matching_head_builds():
    model = MODELS.build(recognizer_cfg())
    assert model.cls_head.in_channels == model.backbone.feat_dim == 2048
