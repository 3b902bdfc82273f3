# TAM inside a stock 2D ResNet-50 (ResNetTAM: a TAM before every block, as
# TSM puts its shift) with MMAction2's TSNHead, on the demo's data and
# schedule.
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

model = dict(
    backbone=dict(
        _delete_=True, type='ResNetTAM', depth=50,
        num_segments={{_base_.num_segments}}, pretrained=None,
        norm_eval=False),
    cls_head=dict(
        _delete_=True, type='TSNHead', num_classes={{_base_.num_classes}},
        in_channels=2048, dropout_ratio=0.5, init_std=0.001,
        average_clips='prob'))
