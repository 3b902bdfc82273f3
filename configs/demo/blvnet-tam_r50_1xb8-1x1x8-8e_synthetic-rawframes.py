# The demo on frame folders (MMAction2's RawframeDataset, with named errors
# once mmblvnet is imported; as Something-Something v1):
#   python -m mmblvnet.datasets.synthetic data/synthetic --rawframes
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

num_segments = {{_base_.num_segments}}
frame_size = {{_base_.frame_size}}
data_root = {{_base_.data_root}}


def _pipeline(test_mode):
    return [
        dict(type='SampleFrames', clip_len=1, frame_interval=1,
             num_clips=num_segments, test_mode=test_mode),
        dict(type='RawFrameDecode'),
        dict(type='Resize', scale=(frame_size, frame_size),
             keep_ratio=False),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs')
    ]


def _dataset(split):
    return dict(
        _delete_=True,
        type='RawframeDataset',
        ann_file=f'{data_root}/{split}_list_rawframes.txt',
        data_prefix=dict(img=f'{data_root}/rawframes'),
        filename_tmpl='img_{:05d}.jpg',
        pipeline=_pipeline(test_mode=split != 'train'),
        test_mode=split != 'train')


train_dataloader = dict(dataset=_dataset('train'))
val_dataloader = dict(dataset=_dataset('val'))
test_dataloader = dict(dataset=_dataset('val'))
