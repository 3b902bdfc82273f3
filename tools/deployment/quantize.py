"""Static int8 (QDQ) quantization of an exported recognizer, checked.

    python tools/deployment/quantize.py CONFIG CHECKPOINT MODEL.onnx
        --calib LIST [--test LIST] [--out MODEL_INT8.onnx] [--online]
        [--calib-size 32] [--max-drop 1.0] [--min-agreement 98]
        [--overwrite] [--cfg-options KEY=VALUE ...] [--debug]

MODEL.onnx is the fp32 file of ``export_onnx.py`` for CONFIG and
CHECKPOINT. First its logits are checked against PyTorch's on the first
test clip (within 1e-4 of the logit scale: the file belongs to that
checkpoint). Then ONNX Runtime's ``quantize_static`` writes a QDQ model
of every op (int8 weights per channel, uint8 activations) whose ranges
are measured on ``--calib-size`` clips spread over the ``--calib`` list, read
through the config's test data set and pipeline. fp32 and int8 then
classify every clip of the held-out ``--test`` list (default: the
config's ``test_dataloader`` list) in ONNX Runtime; the tool prints both
top-1 accuracies and how often their top-1 labels agree.

The int8 file (default: MODEL.int8.onnx) is written only if int8 loses at
most ``--max-drop`` points of top-1 and agrees on at least
``--min-agreement`` percent of the clips; otherwise status 1 and an
``error:`` line naming the numbers. An existing output is replaced only
with ``--overwrite``. User errors are one ``error:`` line (``--debug``
shows the traceback).

--online quantizes a step file of ``export_onnx.py --online`` (a model
with causal TAMs) the same way and with the same checks, every clip fed
to it as a stream: its views as streams, pair by pair from empty stream
buffers, the logits of its T / 2 pairs averaged (what a stream scores
after T / 2 pairs, ``RuntimeOnlineRecognizer`` with a window of T / 2).
The parity check compares that with PyTorch's clip forward (equal for
causal TAMs); the calibration feeds each step's pair with the buffers the
pairs before it left (``calibration_feeds``), so the int8 ranges cover
the buffers a stream reaches; the top-1 check streams every held-out
clip through the fp32 and the int8 step file.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile

from mmengine.config import Config, DictAction

from mmblvnet.apis.export import INPUT_NAME, relative_diff
from mmblvnet.apis.online import (
    PAIR_NAME,
    OnlineRecognizer,
    RuntimeOnlineRecognizer,
    calibration_feeds,
    stream_pairs,
)
from mmblvnet.apis.quantize import (
    calibration_clips,
    compare_top1,
    list_dataset,
    quantize_int8,
)
from mmblvnet.apis.recognize import init_checked_recognizer
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.engine.atomic_io import check_destination, publish
from mmblvnet.utils.cli import run_main

TOLERANCE = 1e-4  # of the logit scale, as export_onnx.py


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Static int8 quantization of an exported recognizer '
        'with a top-1 check on a held-out list')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of MODEL.onnx')
    parser.add_argument('model', help='fp32 .onnx file of export_onnx.py')
    parser.add_argument('--calib', required=True, metavar='LIST',
                        help='data list of the calibration clips')
    parser.add_argument(
        '--test', metavar='LIST',
        help="held-out data list (default: the config's test_dataloader "
        'list)')
    parser.add_argument('--out', help='int8 .onnx file (default: '
                        'MODEL.int8.onnx)')
    parser.add_argument(
        '--online', action='store_true',
        help='MODEL.onnx is a step file of export_onnx.py --online; '
        'calibrate and check it on clips streamed pair by pair')
    parser.add_argument('--calib-size', type=int, default=32, metavar='N',
                        help='calibration clips, spread over the list '
                        '(default 32)')
    parser.add_argument('--max-drop', type=float, default=1.0,
                        help='largest top-1 loss allowed, in points '
                        '(default 1.0)')
    parser.add_argument('--min-agreement', type=float, default=98.0,
                        help='smallest top-1 agreement allowed, in percent '
                        '(default 98)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the output if it exists')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


class StreamedRecognizer(RuntimeRecognizer):
    """A step file of ``export_onnx.py --online`` as a clip recognizer.

    Clips are normalised and views merged as :class:`RuntimeRecognizer`
    does; the logits of a clip are those a stream of it scores: the clip's
    views are streams of a :class:`RuntimeOnlineRecognizer`, fed pair by
    pair from empty buffers, whose window of ``T / 2`` pairs then holds
    the whole clip. Its session is the only one opened (the parent opens
    its own at its first :meth:`logits`, which this class replaces).

    Args:
        path (str): The step file (fp32 or int8).
        average_clips (str, optional): The head's ``average_clips``.
    """

    def __init__(self, path: str, average_clips: str = 'prob') -> None:
        super().__init__(path, average_clips=average_clips)
        self.stream = RuntimeOnlineRecognizer(
            path, self.num_segments // 2, average_clips=None)

    def logits(self, clips):
        """Args:
            clips (np.ndarray): Normalised clips (N, T, 3, H, W).

        Returns:
            np.ndarray: Logits (N, num_classes) after the last pair.
        """
        self.stream.reset()
        return [self.stream.step(pair) for pair in stream_pairs(clips)][-1]


def check_inputs(path: str, online: bool) -> None:
    """Raise a ValueError naming the fix unless ``path`` takes clips (or,
    ``online``, frame pairs)."""
    import onnx
    names = [tensor.name for tensor in
             onnx.load(path, load_external_data=False).graph.input]
    if online and PAIR_NAME not in names:
        raise ValueError(f'{path}: not a step file (inputs {names}); export '
                         'it with tools/deployment/export_onnx.py --online')
    if not online and INPUT_NAME not in names:
        raise ValueError(f'{path}: takes {names}, not {INPUT_NAME!r}; a step '
                         'file of export_onnx.py --online needs --online')


def default_out(model: str) -> str:
    """``x.onnx`` -> ``x.int8.onnx``."""
    root, ext = osp.splitext(model)
    return f'{root}.int8{ext or ".onnx"}'


def held_out_list(args: argparse.Namespace, cfg: Config) -> str:
    """The ``--test`` list, or the config's; never the calibration list."""
    test = args.test or (cfg.get('test_dataloader') or {}).get(
        'dataset', {}).get('ann_file')
    if not test:
        raise ValueError('the config has no test_dataloader.dataset.'
                         'ann_file; give the held-out list with --test')
    if osp.realpath(test) == osp.realpath(args.calib):
        raise ValueError(f'--calib {args.calib} is also the held-out test '
                         'list; calibrate on other clips (e.g. the '
                         'training list)')
    return test


def calibration_inputs(args, model, fp32: RuntimeRecognizer, dataset):
    """What ``quantize_int8`` calibrates on: normalised clips of
    ``--calib-size`` samples, or with ``--online`` the step inputs a
    stream of each meets (a non-causal ``model`` raises a ValueError
    here)."""
    clips = calibration_clips(fp32, dataset, args.calib_size)
    if not args.online:
        return clips
    online = OnlineRecognizer(model, window=fp32.num_segments // 2)
    return calibration_feeds(online, clips)


def check_parity(args, model, fp32: RuntimeRecognizer, inputs) -> None:
    """PyTorch's and MODEL.onnx's logits on ``inputs`` agree, else a
    ValueError naming both files."""
    import torch

    from mmblvnet.utils.complexity import RecognizerForward
    clips = fp32.clips(inputs)
    with torch.no_grad():
        expected = RecognizerForward(model)(torch.from_numpy(clips)).numpy()
    actual = fp32.logits(clips)
    result = dict(max_abs_diff=float(abs(actual - expected).max()),
                  logit_scale=float(abs(expected).max()))
    relative = relative_diff(result)
    print(f'{args.model} vs PyTorch on the first test clip: max abs diff '
          f'{result["max_abs_diff"]:.3g} at logit scale '
          f'{result["logit_scale"]:.3g}')
    if not relative <= TOLERANCE:
        raise ValueError(
            f'{args.model}: its logits differ from {args.checkpoint}\'s by '
            f'{relative:.2g} of the logit scale (> {TOLERANCE}); export '
            'this checkpoint with tools/deployment/export_onnx.py'
            f'{" --online" if args.online else ""} first')


def quantize_checked(args: argparse.Namespace) -> int:
    out = args.out or default_out(args.model)
    check_destination(out, args.overwrite)
    if args.calib_size < 1:
        raise ValueError(f'--calib-size must be at least 1, got '
                         f'{args.calib_size}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    average_clips = cfg.model.cls_head.get('average_clips', None)
    check_inputs(args.model, args.online)
    recognizer = StreamedRecognizer if args.online else RuntimeRecognizer
    fp32 = recognizer(args.model, average_clips=average_clips)
    test_set = list_dataset(cfg, held_out_list(args, cfg))
    calib_set = list_dataset(cfg, args.calib)
    if not len(test_set) or not len(calib_set):
        raise ValueError('the --calib and --test lists must hold clips')
    model = init_checked_recognizer(args.config, args.checkpoint, 'cpu',
                                    args.cfg_options)
    calibration = calibration_inputs(args, model, fp32, calib_set)
    check_parity(args, model, fp32, test_set[0]['inputs'])
    folder = osp.dirname(osp.abspath(out))
    with tempfile.TemporaryDirectory(dir=folder,
                                     prefix='.quantize-') as scratch:
        draft = os.path.join(scratch, 'int8.onnx')
        quantize_int8(args.model, draft, calibration)
        int8 = recognizer(draft, average_clips=average_clips)
        check = compare_top1(dict(fp32=fp32, int8=int8), test_set)
        print(check)
        failures = check.failures(args.max_drop, args.min_agreement)
        if failures:
            print(f'error: {out}: not written: {"; ".join(failures)} '
                  f'({check})', file=sys.stderr)
            return 1
        publish(draft, out, args.overwrite)
    print(f'wrote {out}: static int8 (QDQ), calibrated on '
          f'{min(args.calib_size, len(calib_set))} clips of {args.calib}'
          f'{" streamed pair by pair" if args.online else ""}')
    return 0


def main(argv=None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(lambda rest: quantize_checked(parse_args(rest)), argv)


if __name__ == '__main__':
    sys.exit(main())
