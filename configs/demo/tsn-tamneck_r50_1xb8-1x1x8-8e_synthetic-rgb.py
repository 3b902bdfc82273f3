# Stock MMAction2 parts with our TAM as a neck: MMAction2's ResNet-50 and
# TSNHead, TAMNeck blending the segments of layer4's output. Same data and
# schedule as the bLVNet-TAM demo.
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

model = dict(
    backbone=dict(
        _delete_=True, type='ResNet', depth=50, pretrained=None,
        norm_eval=False,
        # A tuple of maps: Recognizer2D reshapes each into (N, C, T, H, W)
        # for the neck, which blends the last one.
        out_indices=(2, 3)),
    neck=dict(type='TAMNeck', in_channels=2048,
              num_segments={{_base_.num_segments}}),
    cls_head=dict(
        _delete_=True, type='TSNHead', num_classes={{_base_.num_classes}},
        in_channels=2048, dropout_ratio=0.5, init_std=0.001,
        average_clips='prob'))
