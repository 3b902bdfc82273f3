"""Export a recognizer to ONNX and check it in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx
        [--num-segments T] [--shape H W] [--overwrite]
        [--cfg-options KEY=VALUE ...] [--debug]

The graph maps normalised clips (N, T, 3, H, W) to logits (N, num_classes),
consensus over the T segments included, with a dynamic batch axis N; T, H
and W are fixed at export (T defaults to the model's ``num_segments``,
H W to 224 224). CHECKPOINT ``none`` exports random weights (drawn so
that the logits depend on the input; for trying the export).

After export, onnxruntime and PyTorch run the same random clips at batch
1 and 3; the tool prints the max abs difference of the logits and the
logit scale (the largest abs PyTorch logit), and exits with status 1,
writing no file, if the difference exceeds 1e-4 of the logit scale. The
file is written to a temporary name next to OUT.onnx and moved into place
when it passed (a NaN difference fails); an existing OUT.onnx is
replaced only with --overwrite. A damaged checkpoint (zip CRC-32), one
with NaN/Inf weights, an empty or truncated file exports nothing: one
``error: FILE: reason`` line, status 1 (``--debug`` or
``MMBLVNET_DEBUG=1`` shows the traceback instead).
"""
import argparse
import os
import sys
import tempfile

from mmengine.config import Config, DictAction

from mmblvnet.apis.export import (
    export_onnx,
    onnx_metadata,
    onnx_parity,
    random_weights_,
    relative_diff,
    worst_relative_diff,
)
from mmblvnet.apis.recognize import init_checked_recognizer
from mmblvnet.datasets.sampling import model_num_segments
from mmblvnet.engine.atomic_io import check_destination, publish
from mmblvnet.engine.checkpoint_integrity import check_state_dict
from mmblvnet.utils.cli import run_main

TOLERANCE = 1e-4  # of the logit scale
BATCH_SIZES = (1, 3)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a recognizer to ONNX with a parity check')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint',
                        help="checkpoint file, or 'none' for random weights")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument(
        '--num-segments', type=int, metavar='T',
        help="frames per clip (default: the model's num_segments); sets "
        'model.backbone.num_segments / model.neck.num_segments')
    parser.add_argument('--shape', type=int, nargs=2, default=(224, 224),
                        metavar=('H', 'W'),
                        help='frame height and width (default 224 224)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace OUT.onnx if it exists')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


def config_options(config: str, num_segments, cfg_options) -> dict:
    """``--cfg-options`` plus ``num_segments`` for the backbone/neck."""
    options = dict(cfg_options or {})
    if num_segments is None:
        return options
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(options)
    for part in ('backbone', 'neck'):
        if 'num_segments' in (cfg.model.get(part) or {}):
            options[f'model.{part}.num_segments'] = num_segments
    return options


def build_model(args: argparse.Namespace):
    """The recognizer and the (T, 3, H, W) shape of one clip."""
    options = config_options(args.config, args.num_segments,
                             args.cfg_options)
    none = args.checkpoint.lower() == 'none'
    model = init_checked_recognizer(args.config,
                                    None if none else args.checkpoint,
                                    'cpu', options)
    clip = model_num_segments(model)
    num_segments = args.num_segments or (clip.num_segments if clip else None)
    if num_segments is None:
        raise ValueError('the model has no num_segments; give '
                         '--num-segments T')
    if min(args.shape) < 1:
        raise ValueError(f'--shape {args.shape}: H and W must be positive')
    clip_shape = (num_segments, 3, *args.shape)
    if none:
        random_weights_(model, clip_shape)
    # Also weights that came another way than a local file (init_cfg, URL).
    check_state_dict(model.state_dict(), args.checkpoint)
    return model, clip_shape


def report(results: dict) -> float:
    """Print one line per batch size; return the worst relative diff
    (``inf`` if a difference or logit is NaN or Inf)."""
    for batch, result in results.items():
        print(f'batch {batch}: max abs diff {result["max_abs_diff"]:.3g} '
              f'at logit scale {result["logit_scale"]:.3g} '
              f'({relative_diff(result):.2g} of the scale)')
    return worst_relative_diff(results)


def export_checked(args: argparse.Namespace) -> int:
    check_destination(args.out, args.overwrite)
    model, clip_shape = build_model(args)
    folder = os.path.dirname(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=folder,
                                     prefix='.export_onnx-') as scratch:
        draft = os.path.join(scratch, 'model.onnx')
        export_onnx(model, clip_shape, draft,
                    onnx_metadata(model, clip_shape[0]))
        worst = report(onnx_parity(model, draft, clip_shape, BATCH_SIZES))
        if not worst <= TOLERANCE:
            print(f'error: {args.out}: onnxruntime differs from PyTorch by '
                  f'{worst:.2g} of the logit scale (> {TOLERANCE}); the '
                  'file was not written', file=sys.stderr)
            return 1
        publish(draft, args.out, args.overwrite)
    shape = ', '.join(map(str, clip_shape))
    print(f'wrote {args.out}: clips (N, {shape}) -> logits '
          f'(N, {model.cls_head.num_classes}), N dynamic')
    return 0


def main(argv=None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(lambda rest: export_checked(parse_args(rest)), argv)


if __name__ == '__main__':
    sys.exit(main())
