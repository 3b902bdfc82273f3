"""Where the time of one training step goes, on the CPU.

    python tools/analysis/profile_train_step.py CONFIG [--shape 32 32]
        [--batch 8] [--threads 2] [--steps 3] [--top 15]
        [--cfg-options KEY=VALUE ...]

Builds the config's model and optimizer wrapper, runs its ``train_step``
(data preprocessor, forward, loss, backward, clipping, update) on random
frames of the given size, prints the median wall time per step and then,
under ``torch.profiler``, the ops that take the most CPU time, split by
input shape: an op that is slow for one shape only (a convolution's weight
gradient on a tiny map, say) shows as one row. ``--shape`` is read as in
``get_flops.py`` (``H W`` gives ``backbone.num_segments`` frames per clip);
``--batch`` defaults to the config's training batch. A config it cannot
read or build is one ``error:`` line, status 1 (``--debug`` shows the
traceback).
"""
import argparse
import statistics
import sys
import time
from typing import Dict, Optional, Sequence

import torch
from get_flops import resolve_input_shape
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch.profiler import profile

from mmblvnet.utils.cli import run_main


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Time and profile training steps of a config on CPU')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='frame size H W (or S), or N T C H W')
    parser.add_argument('--batch', type=int,
                        help='clips per step (default: the config\'s '
                        'train_dataloader.batch_size)')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps first')
    parser.add_argument('--steps', type=int, default=3,
                        help='timed (then profiled) steps')
    parser.add_argument('--top', type=int, default=15,
                        help='rows of the op table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args(argv)


def random_batch(input_shape: Sequence[int], num_classes: int) -> Dict:
    """A data batch as a data loader yields it: uint8 frames and labels.

    Args:
        input_shape (Sequence[int]): (N, T, C, H, W) of the whole batch.
        num_classes (int): Labels are drawn from ``range(num_classes)``.

    Returns:
        dict: ``inputs`` (N tensors of shape (T, C, H, W), uint8) and
        ``data_samples`` (N ``ActionDataSample`` with a ``gt_label``).
    """
    from mmaction.structures import ActionDataSample
    num_clips, *clip_shape = input_shape
    inputs = [torch.randint(0, 256, clip_shape, dtype=torch.uint8)
              for _ in range(num_clips)]
    samples = [ActionDataSample().set_gt_label(int(label))
               for label in torch.randint(0, num_classes, (num_clips, ))]
    return dict(inputs=inputs, data_samples=samples)


def run(argv: Optional[Sequence[str]] = None) -> Dict:
    """Time and profile the training steps; returns the step times (s) and
    the profiler's key averages."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmaction')):
        from mmaction.registry import MODELS
        model = MODELS.build(cfg.model)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    input_shape = list(resolve_input_shape(model, args.shape))
    if args.batch or len(args.shape) != 5:
        input_shape[0] = args.batch or cfg.train_dataloader.batch_size
    data = random_batch(input_shape, cfg.model.cls_head.num_classes)
    model.train()

    def step() -> float:
        start = time.perf_counter()
        model.train_step(data, optim_wrapper)
        return time.perf_counter() - start

    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.steps)]
    with profile(record_shapes=True) as prof:
        for _ in range(args.steps):
            step()
    averages = prof.key_averages(group_by_input_shape=True)
    total = sum(event.self_cpu_time_total for event in averages)
    print(averages.table(sort_by='self_cpu_time_total', row_limit=args.top,
                         max_name_column_width=36,
                         max_shapes_column_width=80))
    print(f'input {tuple(input_shape)} (N, T, C, H, W), '
          f'{torch.get_num_threads()} threads: '
          f'{statistics.median(times) * 1000:.0f} ms per training step '
          f'(median of {args.steps}); profiled ops '
          f'{total / 1000 / args.steps:.0f} ms of CPU time per step')
    return dict(step_s=times, averages=averages)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
