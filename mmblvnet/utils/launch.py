"""Command-line logic shared by ``tools/train.py`` and ``tools/test.py``.

The arguments and their meaning are MMAction2's own (``--work-dir``,
``--resume``, ``--amp``, ``--cfg-options``, ``--launcher`` ...), so the
same commands work here and with ``mim train/test mmaction``. On top of
MMAction2 the tools make a CPU-only machine work: a distributed launch
without CUDA uses ``gloo`` and a device-less DDP wrapper.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner import Runner

_LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _add_shared_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. '
        'train_dataloader.dataset.ann_file=PATH model.cls_head.num_classes=6')
    parser.add_argument('--launcher', choices=_LAUNCHERS, default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def train_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/train.py`` (those of MMAction2's train tool)."""
    parser = argparse.ArgumentParser(description='Train a recognizer')
    parser.add_argument('config', help='train config file')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a path from the '
        'latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs CUDA)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--diff-rank-seed', action='store_true')
    parser.add_argument('--deterministic', action='store_true')
    _add_shared_args(parser)
    return parser


def test_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/test.py`` (those of MMAction2's test tool)."""
    parser = argparse.ArgumentParser(description='Test a recognizer')
    parser.add_argument('config', help='test config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--dump', help='pickle file for the predictions')
    _add_shared_args(parser)
    return parser


def parse(parser: argparse.ArgumentParser,
          argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and export ``LOCAL_RANK`` as MMEngine expects."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _set_work_dir(cfg: Config, args: argparse.Namespace) -> None:
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('work_dirs', name)


def _use_amp(cfg: Config) -> None:
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(f'--amp cannot replace optim_wrapper.type='
                         f'{wrapper!r}; set an AMP wrapper in the config')
    if not torch.cuda.is_available():
        raise RuntimeError(
            '--amp needs CUDA (MMEngine\'s AmpOptimWrapper is CUDA-only) and '
            'this machine has none; train without --amp on CPU')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def _distribute_without_cuda(cfg: Config) -> None:
    """Use gloo and a device-less DDP wrapper when CUDA is absent."""
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False)


def merge_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the train tool's arguments to ``cfg`` (``--cfg-options`` last).

    Args:
        cfg (Config): The loaded config; changed in place.
        args (argparse.Namespace): Parsed :func:`train_parser` arguments.

    Returns:
        Config: ``cfg``.
    """
    cfg.launcher = args.launcher
    _set_work_dir(cfg, args)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        _use_amp(cfg)
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if cfg.get('randomness') is None:
        cfg.randomness = dict(seed=args.seed,
                              diff_rank_seed=args.diff_rank_seed,
                              deterministic=args.deterministic)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    _distribute_without_cuda(cfg)
    return cfg


def merge_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the test tool's arguments to ``cfg`` (``--cfg-options`` last).

    Args:
        cfg (Config): The loaded config; changed in place.
        args (argparse.Namespace): Parsed :func:`test_parser` arguments.

    Returns:
        Config: ``cfg``.
    """
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg.launcher = args.launcher
    _set_work_dir(cfg, args)
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must name a .pkl file, got {args.dump}')
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dict(
            type='DumpResults', out_file_path=args.dump)]
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    _distribute_without_cuda(cfg)
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the runner the config asks for (``runner_type``) or MMEngine's.
    """
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    from mmaction.registry import RUNNERS
    return RUNNERS.build(cfg)


def train(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of ``tools/train.py``."""
    args = parse(train_parser(), argv)
    cfg = merge_train_args(Config.fromfile(args.config), args)
    build_runner(cfg).train()


def test(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point of ``tools/test.py``; returns the metrics."""
    args = parse(test_parser(), argv)
    cfg = merge_test_args(Config.fromfile(args.config), args)
    return build_runner(cfg).test()
