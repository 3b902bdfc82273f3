# Fine-tune bLVNet-TAM-50 (8x2 frames) on your own videos, starting from a
# converted Something-Something v2 checkpoint (or any checkpoint of this
# model): the backbone is loaded, the classifier is new (num_classes).
# Walk-through: docs/finetune.md. Copy this file and set the lines below.
num_classes = 6  # classes of your data set
data_root = 'data/my_videos'  # videos/, {train,val}_list_videos.txt
load_from = 'checkpoints/blvnet_tam_r50_8x2_sthv2.pth'  # start from here
max_epochs = 10
batch_size = 8  # clips per GPU (or per CPU process)
short_side = 256  # frames resized to this short side, then cropped to
crop_size = 224
num_segments = 16  # frames per clip (8 big-little pairs), as the checkpoint

_base_ = [
    'mmaction::_base_/default_runtime.py',
    '../_base_/models/blvnet_tam_r50.py',
    # Delete this line for MMAction2's stock runtime:
    '../_base_/robust_runtime.py',
]

model = dict(
    backbone=dict(num_segments=num_segments),
    cls_head=dict(num_classes=num_classes))

# The checkpoint's classifier (cls_head) is for other classes: leave it out
# of the strict check of the robust runtime; every other key must fit.
custom_hooks = [dict(type='StrictLoadHook', ignore_keys=[r'^cls_head\.'])]

# MMAction2's VideoDataset: one "relative/path.mp4 label" line per video.
dataset_type = 'VideoDataset'
train_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, short_side)),
    dict(type='MultiScaleCrop', input_size=crop_size,
         scales=(1, 0.875, 0.75, 0.66), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    # Remove the flip if your labels name directions ("moving left").
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=num_segments, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, short_side)),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]


def _loader(split, pipeline, shuffle):
    return dict(
        batch_size=batch_size,
        num_workers=2,
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

# Fine-tuning: a tenth of the reference lr (0.01 at batch 64), scaled to
# the batch, with a cosine decay; the new head learns 10x faster.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.001 * batch_size / 64, momentum=0.9,
                   weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=10)}),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0,
         by_epoch=True, begin=0, end=max_epochs)
]
default_hooks = dict(
    # The best epoch on the val list is kept as best_acc_top1_epoch_N.pth.
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='acc/top1'))
