# bLVNet-TAM-50 recognizer: bLResNet-50 (alpha=2, beta=4) with TAM (k=3)
# and the reference segment head. Load ImageNet bLResNet weights with
#   model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH)
custom_imports = dict(imports=['mmblvnet'], allow_failed_imports=False)
# Fail fast and lose nothing (docs/robustness.md): a pipeline sampling
# another number of frames, list labels outside the head's classes, a
# checkpoint that does not fit the model (never a silent partial load;
# fine-tune across data sets with ignore_keys=[r'^cls_head\.']), and a
# NaN/Inf loss (stops before the update; on_non_finite='skip' skips it).
# LeanMallocHook: on CPU, glibc malloc gives freed activations back to the
# OS (about half the resident memory, more system time per step; set
# MMBLVNET_MALLOC=default or drop the hook to keep glibc's defaults).
custom_hooks = [
    dict(type='NumSegmentsCheckHook'),
    dict(type='LabelRangeCheckHook'),
    dict(type='StrictLoadHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='LeanMallocHook'),
]

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
