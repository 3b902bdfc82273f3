"""Print the FLOPs and parameters of a recognizer built from a config.

    python tools/analysis/get_flops.py CONFIG [--shape 1 16 3 224 224]
        [--cfg-options KEY=VALUE ...] [--no-table]

The arguments are those of MMAction2's tool of the same name. ``--shape``
is the input of one forward: ``H W`` (or ``S``) for a 2D recognizer, which
then gets one clip of ``backbone.num_segments`` frames, or a full shape,
(N, T, C, H, W) for a 2D recognizer (N clips of T frames) and
(N, C, T, H, W) for a 3D one (:func:`resolve_input_shape`, which
``profile_train_step.py`` beside it uses too). The count includes the
classification head (see :mod:`mmblvnet.utils.complexity`). The config's
``custom_imports`` are imported (``mmblvnet`` itself always is). A config
it cannot read or build is one ``error:`` line, status 1 (``--debug``
shows the traceback).
"""
import argparse
import sys
from typing import Optional, Sequence, Tuple

from mmaction.models import Recognizer3D
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from torch import nn

from mmblvnet.utils.cli import run_main
from mmblvnet.utils.complexity import recognizer_complexity


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Get the FLOPs and parameters of a recognizer')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[224, 224],
        help='input size H W, or N T C H W (2D) / N C T H W (3D)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.backbone.num_segments=8')
    parser.add_argument('--no-table', action='store_true',
                        help='print only the totals')
    return parser.parse_args(argv)


def resolve_input_shape(model: nn.Module,
                        shape: Sequence[int]) -> Tuple[int, ...]:
    """Full input shape of ``model`` from a ``--shape`` argument.

    Args:
        model (nn.Module): The recognizer.
        shape (Sequence[int]): ``S`` or ``H W`` (a 2D recognizer: one clip
            of ``backbone.num_segments`` RGB frames, or 1 frame without
            that attribute), or a full (N, T, C, H, W) shape for a 2D
            recognizer, (N, C, T, H, W) for a 3D one.

    Returns:
        tuple[int]: The shape of the input tensor.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 5:
        return shape
    if len(shape) in (1, 2) and not isinstance(model, Recognizer3D):
        height, width = shape * 2 if len(shape) == 1 else shape
        frames = getattr(model.backbone, 'num_segments', 1)
        return (1, frames, 3, height, width)
    raise ValueError(
        f'invalid --shape {list(shape)}: give H W (or S) for a 2D '
        'recognizer, or the full shape N T C H W (2D) / N C T H W (3D)')


def run(argv: Optional[Sequence[str]] = None) -> dict:
    """Build the model of a config and print its complexity.

    Returns:
        dict: The result of
        :func:`mmblvnet.utils.complexity.recognizer_complexity` plus the
        resolved ``input_shape``.
    """
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    input_shape = resolve_input_shape(model, args.shape)
    info = recognizer_complexity(
        model, input_shape, show_table=not args.no_table)
    if info['out_table']:
        print(info['out_table'])
    line = '=' * 30
    print(f'\n{line}\nInput shape: {input_shape}\n'
          f'Flops: {info["flops_str"]}\nParams: {info["params_str"]}\n'
          f'{line}')
    print('Check that every op is counted before quoting these numbers: '
          'element-wise ops are not counted.')
    return dict(info, input_shape=input_shape)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
