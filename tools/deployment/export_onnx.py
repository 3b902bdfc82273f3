"""Export a recognizer to ONNX and check it in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx
        [--num-segments T] [--shape H W] [--overwrite]
        [--cfg-options KEY=VALUE ...]

The graph maps normalised clips (N, T, 3, H, W) to logits (N, num_classes)
with a dynamic batch axis. After export, onnxruntime and PyTorch run the
same random clips at batch 1 and 3; the tool prints the max abs difference
and exits with status 1, keeping no file, if it exceeds 1e-4 of the logit
scale. CHECKPOINT ``none`` exports the randomly initialised model.
"""
import argparse
import os
import sys
import tempfile

from mmengine.config import DictAction

from mmblvnet.apis.export import export_onnx, onnx_parity, replace_atomically
from mmblvnet.apis.recognize import init_checked_recognizer

TOLERANCE = 1e-4  # of the logit scale


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a recognizer to ONNX with a parity check')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none'")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--num-segments', type=int,
                        help="frames T per clip (default: the backbone's "
                        'num_segments)')
    parser.add_argument('--shape', type=int, nargs=2, default=(224, 224),
                        metavar=('H', 'W'), help='frame size')
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = dict(args.cfg_options or {})
    if args.num_segments is not None:
        options['model.backbone.num_segments'] = args.num_segments
    if os.path.exists(args.out) and not args.overwrite:
        print(f'error: {args.out} exists; pass --overwrite to replace it',
              file=sys.stderr)
        return 1
    checkpoint = None if args.checkpoint == 'none' else args.checkpoint
    model = init_checked_recognizer(args.config, checkpoint, 'cpu', options)
    clip_shape = (model.backbone.num_segments, 3, *args.shape)
    folder = os.path.dirname(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        draft = os.path.join(scratch, 'model.onnx')
        export_onnx(model, clip_shape, draft)
        worst = 0.0
        for batch, result in onnx_parity(model, draft, clip_shape).items():
            relative = result['max_abs_diff'] / max(result['logit_scale'],
                                                    1e-12)
            worst = max(worst, relative)
            print(f'batch {batch}: max abs diff {result["max_abs_diff"]:.3g}'
                  f' at logit scale {result["logit_scale"]:.3g} '
                  f'({relative:.2g} of the scale)')
        if worst > TOLERANCE:
            print(f'error: onnxruntime differs from PyTorch by {worst:.2g} '
                  f'of the logit scale (> {TOLERANCE}); nothing written',
                  file=sys.stderr)
            return 1
        replace_atomically(draft, args.out, args.overwrite)
    shape = ', '.join(map(str, clip_shape))
    print(f'wrote {args.out} (input clips (N, {shape}), output logits)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
