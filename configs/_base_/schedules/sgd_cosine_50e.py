# The reference recipe: SGD (Nesterov) lr 0.01 at batch 64 (scaled
# linearly with auto_scale_lr), momentum 0.9, weight decay 5e-4, cosine
# decay over 50 epochs, no gradient clipping.
max_epochs = 50

train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]

optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4,
        nesterov=True))

auto_scale_lr = dict(enable=False, base_batch_size=64)
