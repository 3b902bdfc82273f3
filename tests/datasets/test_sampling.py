from mmaction.registry import MODELS

from mmblvnet.datasets.sampling import (
    ClipFrames,
    is_decoder,
    is_video_decode,
    is_video_init,
    model_num_segments,
)


def test_decoders_are_told_by_mmaction2s_naming():
    for name in ('DecordInit', 'PyAVInit', 'OpenCVInit'):
        assert is_video_init(name) and not is_video_decode(name)
    for name in ('DecordDecode', 'PyAVDecode', 'OpenCVDecode'):
        assert is_video_decode(name) and not is_video_init(name)
    for name in ('RawFrameDecode', 'SampleFrames', 'Resize'):
        assert not is_decoder(name)


def test_num_segments_comes_from_the_backbone_else_the_neck():
    blvnet = MODELS.build(dict(
        type='Recognizer2D', backbone=dict(type='bLResNet', depth=50,
                                           num_segments=4),
        cls_head=dict(type='SegmentHead', num_classes=2, in_channels=2048)))
    assert model_num_segments(blvnet) == ClipFrames(
        4, 'model.backbone.num_segments')
    neck = MODELS.build(dict(
        type='Recognizer2D',
        backbone=dict(type='ResNet', depth=18, out_indices=(2, 3)),
        neck=dict(type='TAMNeck', in_channels=512, num_segments=8),
        cls_head=dict(type='TSNHead', num_classes=2, in_channels=512)))
    assert model_num_segments(neck) == ClipFrames(8, 'model.neck.num_segments')
    assert model_num_segments(neck.backbone) is None
