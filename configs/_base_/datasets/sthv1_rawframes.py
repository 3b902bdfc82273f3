# Something-Something v1 JPEG frames (00001.jpg, ...) in the layout of
# MMAction2's tools/data/sthv1 scripts (data/sthv1/rawframes; docs/data.md).
# Data set type, paths and loaders; the variant config sets the pipelines
# (their frame count must equal the backbone's num_segments). The type is
# MMAction2's own; with ../robust_runtime.py a bad list line or sample is
# an error naming the file and list line, and robust_cfg.on_bad_sample=
# 'skip' skips unreadable samples in training (docs/robustness.md).
dataset_type = 'RawframeDataset'
data_root = 'data/sthv1/rawframes'
data_root_val = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
ann_file_test = 'data/sthv1/sthv1_val_list_rawframes.txt'

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        filename_tmpl='{:05}.jpg',
        ann_file=ann_file_train,
        data_prefix=dict(img=data_root)))
val_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        filename_tmpl='{:05}.jpg',
        ann_file=ann_file_val,
        data_prefix=dict(img=data_root_val),
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        filename_tmpl='{:05}.jpg',
        ann_file=ann_file_test,
        data_prefix=dict(img=data_root_val),
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
