"""Eager CPU inference time of the bLVNet-TAM-50 8x2 backbone.

    PYTHONPATH=TREE python benchmarks/eager_backbone.py [--fuse-conv-bn]

``bLResNet(50, 16)`` in eval mode under ``torch.inference_mode`` on 16
random frames at 224 x 224 per clip, 2 threads, after one warm-up: the
median of 9 runs at batch 1 and of 3 at batch 8. ``--fuse-conv-bn`` folds
every BatchNorm into the convolution before it first (MMCV's
``fuse_conv_bn``). It imports only ``bLResNet``, so ``PYTHONPATH`` can
point it at a checkout of another commit to compare two trees (run them
alternately on a quiet machine).
"""
import argparse
import statistics
import time

import torch
from mmcv.cnn import fuse_conv_bn

import mmblvnet  # noqa: F401  (registers the plugin)
from mmblvnet.models.backbones.blresnet import bLResNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fuse-conv-bn', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = bLResNet(50, 16).eval()
    if args.fuse_conv_bn:
        model = fuse_conv_bn(model).eval()
    for batch, rounds in ((1, 9), (8, 3)):
        frames = torch.randn(batch * 16, 3, 224, 224)
        times = []
        with torch.inference_mode():
            model(frames)
            for _ in range(rounds):
                start = time.perf_counter()
                model(frames)
                times.append(time.perf_counter() - start)
        print(f'batch {batch}: {1000 * statistics.median(times):.0f} ms')


if __name__ == '__main__':
    main()
