"""Export a recognizer to ONNX and check it in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx
        [--online] [--num-segments T] [--shape H W] [--overwrite]
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

--online exports one step of online recognition instead (for a model
with causal TAMs, ``tam_cfg=dict(blending_frames=3, causal=True)``; any
other is refused with an ``error:`` line): inputs ``pair`` (S, 2, 3, H,
W), one frame pair per stream, and ``buffer_0 ..``, the stream buffers
(zeros at the start of a stream); outputs ``logits`` (S, num_classes) of
the pair and ``next_buffer_0 ..``, the buffers of the next step; the
stream axis S is dynamic (see ``mmblvnet.apis.online``). The parity check
then streams T frames (T / 2 pairs) of 1 and of 3 random streams pair by
pair from empty buffers through PyTorch's ``OnlineRecognizer`` (in
float64: float32 PyTorch's own rounding of a step's logits can reach the
tolerance) and through the file in onnxruntime, and compares the logits
of every step, with the same tolerance, output lines (``streams S: ...``)
and refusal.
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch
from mmengine.config import Config, DictAction

from mmblvnet.apis.export import (
    export_onnx,
    onnx_metadata,
    onnx_parity,
    random_weights_,
    relative_diff,
    worst_relative_diff,
)
from mmblvnet.apis.online import (
    OnlineRecognizer,
    RuntimeOnlineRecognizer,
    export_step_onnx,
    stream_pairs,
)
from mmblvnet.apis.recognize import init_checked_recognizer
from mmblvnet.datasets.sampling import model_num_segments
from mmblvnet.engine.atomic_io import check_destination, publish
from mmblvnet.engine.checkpoint_integrity import check_state_dict
from mmblvnet.utils.cli import run_main

TOLERANCE = 1e-4  # of the logit scale
BATCH_SIZES = (1, 3)  # also the stream counts of --online


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
    parser.add_argument(
        '--online', action='store_true',
        help='export one online step (frame pair and stream buffers in, '
        'logits and next buffers out) of a model with causal TAMs')
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


def stream_parity(model, path: str, clip_shape, stream_counts=BATCH_SIZES,
                  seed: int = 0) -> dict:
    """Max abs difference of an exported step's logits to PyTorch's (in
    float64) over streams of random clips, fed pair by pair from empty
    buffers.

    Args:
        model (nn.Module): The exported recognizer (not changed).
        path (str): Its step file (:func:`export_step_onnx`).
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one stream's clip:
            ``T / 2`` steps.
        stream_counts (Sequence[int]): Numbers of streams ``S`` to
            compare, each on its own random clips.
        seed (int): Seed of the random clips.

    Returns:
        dict: Per stream count, ``max_abs_diff`` over the logits of every
        step and ``logit_scale`` (the largest abs PyTorch logit).
    """
    online = OnlineRecognizer(model, window=1)
    online.model.double()
    runtime = RuntimeOnlineRecognizer(path, window=1, average_clips=None)
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for count in stream_counts:
        online.reset()
        runtime.reset()
        expected, actual = [], []
        clips = torch.randn(count, *clip_shape, generator=generator)
        for pair in stream_pairs(clips.numpy()):
            online.step(torch.from_numpy(pair).double())
            runtime.step(pair)
            expected.append(online.logits[-1].numpy())
            actual.append(runtime.logits[-1])
        expected, actual = np.stack(expected), np.stack(actual)
        results[count] = dict(
            max_abs_diff=float(np.abs(actual - expected).max()),
            logit_scale=float(np.abs(expected).max()))
    return results


def report(results: dict, unit: str = 'batch') -> float:
    """Print one line per batch size (``unit``: or stream count); return
    the worst relative diff (``inf`` if a difference or logit is NaN or
    Inf)."""
    for batch, result in results.items():
        print(f'{unit} {batch}: max abs diff {result["max_abs_diff"]:.3g} '
              f'at logit scale {result["logit_scale"]:.3g} '
              f'({relative_diff(result):.2g} of the scale)')
    return worst_relative_diff(results)


def export_clips(model, clip_shape, path: str) -> float:
    """Export the clip graph to ``path``; print and return its parity."""
    export_onnx(model, clip_shape, path, onnx_metadata(model, clip_shape[0]))
    return report(onnx_parity(model, path, clip_shape, BATCH_SIZES))


def export_step(model, clip_shape, path: str) -> float:
    """Export the online step to ``path``; print and return its parity
    over streams."""
    online = OnlineRecognizer(model, window=clip_shape[0] // 2)
    export_step_onnx(online, clip_shape[1:], path)
    return report(stream_parity(model, path, clip_shape), 'streams')


def export_checked(args: argparse.Namespace) -> int:
    check_destination(args.out, args.overwrite)
    model, clip_shape = build_model(args)
    folder = os.path.dirname(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=folder,
                                     prefix='.export_onnx-') as scratch:
        draft = os.path.join(scratch, 'model.onnx')
        export = export_step if args.online else export_clips
        worst = export(model, clip_shape, draft)
        if not worst <= TOLERANCE:
            print(f'error: {args.out}: onnxruntime differs from PyTorch by '
                  f'{worst:.2g} of the logit scale (> {TOLERANCE}); the '
                  'file was not written', file=sys.stderr)
            return 1
        publish(draft, args.out, args.overwrite)
    num_classes = model.cls_head.num_classes
    if args.online:
        shape = ', '.join(map(str, clip_shape[1:]))
        print(f'wrote {args.out}: frame pairs (S, 2, {shape}) and stream '
              f'buffers -> logits (S, {num_classes}) and the next '
              'buffers, S dynamic')
        return 0
    shape = ', '.join(map(str, clip_shape))
    print(f'wrote {args.out}: clips (N, {shape}) -> logits '
          f'(N, {num_classes}), N dynamic')
    return 0


def main(argv=None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(lambda rest: export_checked(parse_args(rest)), argv)


if __name__ == '__main__':
    sys.exit(main())
