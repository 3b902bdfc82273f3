# CPU demo: bLVNet-TAM-50 (the paper's network, from scratch) on the
# synthetic temporal videos of mmblvnet.datasets.synthetic, 8 frames
# (4 big-little pairs) at 32x32. Generate the data first:
#   python -m mmblvnet.datasets.synthetic data/synthetic
# or run everything with `python -m mmblvnet.quickstart`.
_base_ = [
    'mmaction::_base_/default_runtime.py',
    '../_base_/models/blvnet_tam_r50.py',
    # Delete this line for MMAction2's stock runtime:
    '../_base_/robust_runtime.py',
]

num_segments = 8
num_classes = 6
frame_size = 32
# At 32x32 activations are small: store the stem's maps rather than
# recompute them in backward (stem_with_cp), which costs about 10% of a step.
model = dict(
    backbone=dict(num_segments=num_segments, stem_with_cp=False),
    cls_head=dict(num_classes=num_classes, average_clips='prob'))
data_root = 'data/synthetic'
# MMAction2's VideoDataset; the robust runtime names the file and list line
# of a bad sample (robust_cfg.on_bad_sample='skip' skips them in training).
dataset_type = 'VideoDataset'
# No flips and no temporal jitter beyond segment sampling: a horizontal
# flip would turn "moving right" into "moving left".
train_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(frame_size, frame_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(frame_size, frame_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]


def _loader(split, pipeline, shuffle):
    return dict(
        batch_size=8,
        num_workers=1,
        persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        dataset=dict(
            type=dataset_type,
            ann_file=f'{data_root}/{split}_list_videos.txt',
            data_prefix=dict(video=f'{data_root}/videos'),
            pipeline=pipeline,
            test_mode=not shuffle))


train_dataloader = _loader('train', train_pipeline, shuffle=True)
val_dataloader = _loader('val', test_pipeline, shuffle=False)
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

# From scratch, AdamW learns in minutes on CPU where the paper's SGD recipe
# (lr 0.05 here) had not started learning after 2 minutes. The rate is held
# constant after a short warm-up: a model needs a few hundred iterations
# before it starts to use frame order, and a decay over the whole run lowers
# the rate before then; the cosine decay takes the last quarter. 32x32
# frames give about 1.7x more iterations per CPU-second than 48x48 and
# learn the order of the translation pairs sooner in the same time.
max_epochs = 8
decay_epochs = 2
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    # fused: one multi-tensor AdamW kernel instead of an op per parameter.
    optimizer=dict(type='AdamW', lr=3e-4, weight_decay=1e-4, fused=True),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', T_max=decay_epochs, eta_min=1e-5,
         by_epoch=True, begin=max_epochs - decay_epochs, end=max_epochs,
         convert_to_iter_based=True)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'))
randomness = dict(seed=0, deterministic=False)
env_cfg = dict(cudnn_benchmark=False)
