# bLVNet-TAM-50 recognizer: bLResNet-50 (alpha=2, beta=4) with TAM (k=3)
# and the reference segment head. Load ImageNet bLResNet weights with
#   model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH)
custom_imports = dict(imports=['mmblvnet'], allow_failed_imports=False)
num_segments = 16  # 8 pairs = the paper's "8x2"

model = dict(
    type='Recognizer2D',
    backbone=dict(
        type='bLResNet',
        depth=50,
        num_segments=num_segments,
        alpha=2,
        beta=4,
        tam_cfg=dict(blending_frames=3, blending_method='sum'),
        norm_eval=False),
    cls_head=dict(
        type='SegmentHead',
        num_classes=400,
        in_channels=2048,
        dropout_ratio=0.5,
        init_std=0.001,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'),
    train_cfg=None,
    test_cfg=None)
