"""Interleaved A/B of bLResNet's forward paths on the CPU, in one process.

Every variant runs the same model on the same input; the variants take
turns in every round (A, B, C, A, B, C, ...) and the median per variant is
reported, so a change of the machine's load hits them all alike. The
variants are rows of :mod:`mmblvnet.models.common.impl` (what each module
may do), set by replacing the ``plan`` each module reads.

Cases: eager inference of the bLVNet-TAM-50 8x2 backbone (16 frames at
224 x 224, batch 1 and 8 clips, ``torch.inference_mode``) and the training
step of the quickstart (the demo config's recognizer, 8 frames at 32 x 32,
8 clips, forward, loss, backward, fused AdamW step).

Usage (from a clone)::

    python benchmarks/forward_paths.py [--rounds 7] [--threads 2]
"""
import argparse
import os
import statistics
import time
from typing import Callable, Dict

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmblvnet  # noqa: F401  (registers the models)
from mmblvnet.models.backbones import blresnet
from mmblvnet.models.common import avg_pool, conv_bn, impl, tam

DEMO = 'configs/demo/blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py'
PLAIN = impl.BATCHED
# The rows of `--variants`: loop = every CPU path (the CPU default), then
# loop without one of them; batched = plain ops (GPU, compile), then with
# one of the export form's or the loop's changes.
INFERENCE = {
    'loop': impl.LOOP_INFERENCE,
    'loop-fold': impl.LOOP_INFERENCE._replace(fold_conv_bn=False),
    'loop-per_clip': impl.LOOP_INFERENCE._replace(per_clip=False),
    'loop-dwpools': impl.LOOP_INFERENCE._replace(depthwise_pools=False),
    'batched': PLAIN,
    'batched+dwpools': PLAIN._replace(depthwise_pools=True),
    'batched+masked': PLAIN._replace(masked_shifts=True),
    'batched+resize': PLAIN._replace(resize_upsample=True),
    'export': impl.EXPORT,
}
TRAINING = {
    'loop': impl.LOOP_WITH_AUTOGRAD,
    'batched': PLAIN,
    'batched+small': PLAIN._replace(cpu_kernels=True),
    'batched+small+masked': PLAIN._replace(
        cpu_kernels=True, masked_shifts=True),
    'batched+small+resize': PLAIN._replace(
        cpu_kernels=True, resize_upsample=True),
}


def use_plan(row: impl.Plan) -> None:
    """Make every module take ``row`` whatever its ``impl``."""
    for module in (blresnet, avg_pool, conv_bn, tam):
        module.plan = lambda impl_, x: row


def load() -> str:
    """The 1-minute load average (other processes share the cores)."""
    return f'{os.getloadavg()[0]:.2f}'


def interleaved(variants: Dict[str, impl.Plan], step: Callable[[], None],
                rounds: int) -> Dict[str, float]:
    """Median seconds of ``step`` per variant, the variants taking turns."""
    times = {name: [] for name in variants}
    for row in variants.values():  # warm-up
        use_plan(row)
        step()
    for _ in range(rounds):
        for name, row in variants.items():
            use_plan(row)
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def inference_step(batch: int) -> Callable[[], None]:
    """One no-grad forward of the bLVNet-TAM-50 8x2 backbone."""
    model = blresnet.bLResNet(50, 16).eval()
    frames = torch.randn(batch * 16, 3, 224, 224)

    def step() -> None:
        with torch.inference_mode():
            model(frames)

    return step


def training_step() -> Callable[[], None]:
    """One training step of the quickstart recognizer (8 clips, 32 x 32)."""
    cfg = Config.fromfile(DEMO)
    model = MODELS.build(cfg.model).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=3e-4, weight_decay=1e-4, fused=True)
    inputs = torch.randint(0, 256, (8, 8, 3, 32, 32)).float()
    samples = [ActionDataSample().set_gt_label(i % 6) for i in range(8)]

    def step() -> None:
        data = model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=samples), training=True)
        losses = model(**data, mode='loss')
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    return step


def chosen(variants: Dict[str, impl.Plan], names) -> Dict[str, impl.Plan]:
    """The rows of ``variants`` named in ``names`` (all if None)."""
    return {name: row for name, row in variants.items()
            if names is None or name in names}


def report(title: str, medians: Dict[str, float], before: str) -> None:
    base = next(iter(medians.values()))
    print(f'\n{title} (load average {before} before, {load()} after)')
    for name, seconds in medians.items():
        print(f'| {name} | {seconds * 1000:.0f} ms | {seconds / base:.2f}x |',
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--cases', nargs='+',
                        default=['train', 'b1', 'b8'])
    parser.add_argument('--variants', nargs='+',
                        help='names of INFERENCE / TRAINING rows (all)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmaction')
    print(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
          f'torch {torch.__version__}, {args.threads} threads', flush=True)
    for case in args.cases:
        before = load()
        if case == 'train':
            report('quickstart training step', interleaved(
                chosen(TRAINING, args.variants), training_step(),
                args.rounds), before)
        else:
            batch = int(case[1:])
            report(f'eager inference, batch {batch}', interleaved(
                chosen(INFERENCE, args.variants), inference_step(batch),
                args.rounds if batch == 1 else max(3, args.rounds // 2)),
                before)


if __name__ == '__main__':
    main()
