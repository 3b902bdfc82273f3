"""One command from nothing to a tested bLVNet-TAM on CPU.

Generates the synthetic temporal videos (unless already there), trains
bLVNet-TAM-50 with MMEngine's runner on the demo config, tests it with
MMAction2's ``AccMetric`` on the held-out split and prints top-1/top-5 and
where the checkpoint and logs are::

    python -m mmblvnet.quickstart

Options shrink the run (``--clips-per-class``, ``--epochs``) for a smoke
test; ``--cfg-options`` overrides any config key as in ``tools/train.py``.
The demo config is read from the installed package (a clone is not
needed); user errors are one ``error:`` line, status 1.
"""
import argparse
import errno
import os.path as osp
import sys
import time
from typing import Dict, Optional, Sequence

from mmengine.config import Config, DictAction

from .datasets.synthetic import generate
from .utils.cli import build_runner, run_main

DEMO_CONFIG = osp.join('configs', 'demo',
                       'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py')


def packaged_config(relative: str = DEMO_CONFIG) -> str:
    """Path of one of the repository's configs in the installed package.

    The package holds ``configs/`` as ``mmblvnet/.mim/configs`` (a link in
    a clone, a copy in a wheel; where ``mim`` finds them too), so this
    works from a clone and from ``pip install``.

    Args:
        relative (str): The config's path in the repository, e.g.
            :data:`DEMO_CONFIG`.

    Returns:
        str: The config file.

    Raises:
        FileNotFoundError: If the package does not hold it.
    """
    path = osp.join(osp.dirname(osp.abspath(__file__)), '.mim', relative)
    if not osp.isfile(path):
        raise FileNotFoundError(
            errno.ENOENT, 'not in the installed mmblvnet package (its '
            '.mim/configs); reinstall it with `pip install .`', path)
    return path


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate synthetic temporal videos, then train and '
        'test bLVNet-TAM-50 on them on CPU.')
    parser.add_argument('--config', help='demo config (default: the '
                        f"package's {DEMO_CONFIG})")
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument('--clips-per-class', type=int, default=250)
    parser.add_argument('--num-classes', type=int, default=4,
                        help='even number of classes, whole time-reversed '
                        'pairs (default 4: moving right/left, down/up; 6 '
                        'adds rotating clockwise/anticlockwise)')
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def use_generated_data(cfg: Config, data_root: str) -> None:
    """Point the train, val and test loaders of ``cfg`` at a data set
    written by :func:`~mmblvnet.datasets.synthetic.generate` (val and test
    read its held-out split)."""
    for split, loader in (('train', cfg.train_dataloader),
                          ('val', cfg.val_dataloader),
                          ('val', cfg.test_dataloader)):
        loader.dataset.ann_file = osp.join(data_root,
                                           f'{split}_list_videos.txt')
        loader.dataset.data_prefix = dict(
            video=osp.join(data_root, 'videos'))


def demo_config(args: argparse.Namespace, settings: Dict) -> Config:
    """The demo config pointed at the generated data and work dir."""
    cfg = Config.fromfile(args.config or packaged_config())
    cfg.work_dir = args.work_dir
    cfg.model.cls_head.num_classes = settings['num_classes']
    use_generated_data(cfg, args.data_root)
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        # The decay keeps its length (at most the whole run) and still
        # ends with the last epoch.
        for scheduler in cfg.param_scheduler:
            if scheduler.type == 'CosineAnnealingLR':
                decay = min(scheduler.end - scheduler.begin, args.epochs)
                scheduler.begin = args.epochs - decay
                scheduler.end = args.epochs
                scheduler.T_max = decay
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def run(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the demo; returns the test metrics."""
    args = parse_args(argv)
    start = time.time()
    settings = generate(args.data_root, clips_per_class=args.clips_per_class,
                        num_classes=args.num_classes)
    print(f'data: {args.data_root} ({settings["num_classes"]} classes, '
          f'{settings["clips_per_class"]} clips each)', flush=True)
    runner = build_runner(demo_config(args, settings))
    runner.train()
    metrics = runner.test()
    minutes = (time.time() - start) / 60
    last = osp.join(runner.work_dir, 'last_checkpoint')
    checkpoint = open(last).read().strip() if osp.isfile(last) else '-'
    print(f'\nheld-out top-1 {metrics["acc/top1"]:.2%}, '
          f'top-5 {metrics["acc/top5"]:.2%} '
          f'(chance {1 / settings["num_classes"]:.0%}) in {minutes:.1f} min'
          f'\ncheckpoint: {checkpoint}\nlogs and config: {runner.log_dir}')
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
