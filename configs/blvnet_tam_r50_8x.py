# Short name of bLVNet-TAM-50 at 8x2 frames (16 frames, 8 big-little pairs)
# on Something-Something v2 videos, the paper's main setting.
_base_ = ['./zoo/blvnet-tam_r50_8xb8-1x1x16-50e_sthv2-rgb.py']
