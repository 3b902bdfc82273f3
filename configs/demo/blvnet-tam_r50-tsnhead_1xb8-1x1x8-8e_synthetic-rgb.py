# Our bLResNet-50 backbone with MMAction2's own TSNHead.
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

model = dict(
    cls_head=dict(
        _delete_=True, type='TSNHead', num_classes={{_base_.num_classes}},
        in_channels=2048, dropout_ratio=0.5, init_std=0.001,
        average_clips='prob'))
