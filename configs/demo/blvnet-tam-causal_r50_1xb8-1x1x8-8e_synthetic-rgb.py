# The CPU demo with causal TAMs (each frame blends itself and the two
# before it): what online recognition needs, one frame pair per step
# (tools/demo.py --online, docs/online.md). Same data and recipe as the
# offline demo config.
_base_ = ['./blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py']

model = dict(
    backbone=dict(
        tam_cfg=dict(blending_frames=3, blending_method='sum',
                     causal=True)))
