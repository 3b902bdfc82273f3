# The demo tested on 2 clips x 3 crops per video (6 views, scores
# averaged), MMAction2's multi-view protocol.
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

test_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips={{_base_.num_segments}}, twice_sample=True,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(48, 32), keep_ratio=False),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
