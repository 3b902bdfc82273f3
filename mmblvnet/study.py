"""The temporal study: the paper's four questions on data with known answers.

Trains and tests, with one shared recipe (the CPU demo's: from scratch,
AdamW, cosine decay, batch 8; frames resized to ``--frame-size``, 32
pixels by default) and an equal CPU-time budget
per run, MMAction2's own TSN-R50 and TSM-R50 (their configs, through
``mmengine.hub``), bLVNet-50 without TAM and bLVNet-TAM-50 with k = 1, 3,
5 and max blending, at T = 8 and 16, on the synthetic temporal videos of
:mod:`mmblvnet.datasets.synthetic` (plus a harder setting: longer clips
with distractor motion). Every run reports top-1, the accuracy on each
order-reversed pair, GFLOPs, parameters, training peak memory and CPU
latency; :mod:`mmblvnet.study_report` turns them into ``docs/study.md``
and its plots::

    python -m mmblvnet.study               # full study, <= 60 min on 2 cores
    python -m mmblvnet.study --quick       # smoke run, <= 10 min

The budget is CPU time: a run first times a few training steps, then
trains for as many iterations as fit in ``--budget`` seconds, so a model
that is 3x cheaper sees 3x more clips, as it would on a fixed machine.
"""
import argparse
import copy
import functools
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmaction.registry import MODELS as MODELS_REGISTRY
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from .datasets.synthetic import class_names, generate
from .quickstart import repo_config, use_generated_data
from .utils.complexity import recognizer_complexity
from .utils.profiling import (
    TrainStep,
    inference,
    interleaved_medians,
    train_peak_bytes,
)

_TSN = ('mmaction::recognition/tsn/'
        'tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py')
_TSM = ('mmaction::recognition/tsm/'
        'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py')

# Data settings: frames per video and distractor objects per clip.
SETTINGS = {
    'standard': dict(num_frames=16, distractors=0),
    'hard': dict(num_frames=32, distractors=2),
}
# Display name -> (family, what differs from the bLVNet-TAM demo model).
MODELS = {
    'TSN-R50': ('TSN', None),
    'TSM-R50': ('TSM', None),
    'bLVNet-50': ('bLVNet', None),
    'bLVNet-TAM-50 k1': ('bLVNet-TAM', dict(blending_frames=1)),
    'bLVNet-TAM-50 k3': ('bLVNet-TAM', dict(blending_frames=3)),
    'bLVNet-TAM-50 k5': ('bLVNet-TAM', dict(blending_frames=5)),
    'bLVNet-TAM-50 k3 max': ('bLVNet-TAM', dict(blending_frames=3,
                                                blending_method='max')),
}
MAIN_MODELS = ('TSM-R50', 'bLVNet-TAM-50 k3')
MIN_ITERS = 20  # a run never trains for fewer iterations


@dataclass(frozen=True)
class Run:
    """One training run of the study."""
    model: str
    num_segments: int
    setting: str = 'standard'
    seed: int = 0

    @property
    def name(self) -> str:
        return (f'{self.model} T{self.num_segments} {self.setting} '
                f's{self.seed}')


def plan(quick: bool) -> List[Run]:
    """The runs of the study (``quick``: a smoke subset).

    Every model at T = 8 and 16; the two models the paper compares head
    to head (TSM-R50 and bLVNet-TAM-50 k3) also with seeds 1 and 2 at T = 8
    and on the hard setting.
    """
    if quick:
        return [Run(model, 8) for model in
                ('TSN-R50', 'TSM-R50', 'bLVNet-50', 'bLVNet-TAM-50 k3')]
    runs = [Run(model, t) for t in (8, 16) for model in MODELS]
    runs += [Run(model, 8, seed=seed) for seed in (1, 2)
             for model in MAIN_MODELS]
    runs += [Run(model, 8, 'hard') for model in MAIN_MODELS]
    return runs


def model_config(run: Run, num_classes: int) -> Config:
    """The recognizer config of a run, trained from scratch.

    TSN and TSM come from MMAction2's own configs with their ImageNet
    checkpoints removed (every model here starts from random weights).
    """
    family, tam_cfg = MODELS[run.model]
    if family in ('TSN', 'TSM'):
        model = copy.deepcopy(get_config(_TSN if family == 'TSN' else
                                         _TSM).model)
        model.backbone.pretrained = None
        if family == 'TSM':
            model.backbone.pretrained2d = False
            model.backbone.num_segments = run.num_segments
            model.cls_head.num_segments = run.num_segments
    else:
        model = copy.deepcopy(Config.fromfile(repo_config()).model)
        model.backbone.num_segments = run.num_segments
        model.backbone.tam_cfg = (None if tam_cfg is None else dict(
            model.backbone.tam_cfg, **tam_cfg))
    model.cls_head.num_classes = num_classes
    return model


def run_config(run: Run, data_root: str, num_classes: int, work_dir: str,
               frame_size: int = 32) -> Config:
    """The demo config with the run's model, data, frames and frame size.
    """
    cfg = Config.fromfile(repo_config())
    cfg.frame_size = frame_size
    cfg.model = model_config(run, num_classes)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=run.seed)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=-1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    use_generated_data(cfg, data_root)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        for step in loader.dataset.pipeline:
            if step.type == 'SampleFrames':
                step.num_clips = run.num_segments
            elif step.type == 'Resize':
                step.scale = (frame_size, frame_size)
    return cfg


def _set_schedule(cfg: Config, max_iters: int) -> None:
    warmup = max(1, min(50, max_iters // 4))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=max_iters + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', T_max=max_iters - warmup,
             eta_min=1e-5, by_epoch=False, begin=warmup, end=max_iters)
    ]


def _endless(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def calibrate_iterations(cfg: Config, budget_s: float,
                         steps: int = 3) -> int:
    """Iterations that fit the budget, from the time of a few train steps.
    """
    probe = copy.deepcopy(cfg)
    probe.work_dir = osp.join(cfg.work_dir, 'calibration')
    _set_schedule(probe, max_iters=1 + steps)
    runner = Runner.from_cfg(probe)
    model = runner.model.train()
    optim = runner.build_optim_wrapper(probe.optim_wrapper)
    batches = _endless(runner.build_dataloader(probe.train_dataloader))
    model.train_step(next(batches), optim)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(next(batches), optim)
    step_s = (time.perf_counter() - start) / steps
    return max(MIN_ITERS, int(budget_s / step_s))


def evaluate(runner: Runner, num_classes: int) -> Dict:
    """Top-1, per-class and per-pair order accuracy on the test split.

    The order accuracy of a pair of time-reversed classes is how often a
    clip of the pair scores higher for its own class than for its
    reversal: 50% for a model blind to frame order, whatever it thinks of
    the other classes.

    Returns:
        dict: ``top1``, ``test_clips``, ``per_class`` (list) and
        ``pairs`` (order accuracy of each reversed pair, a list).
    """
    model = runner.model.eval()
    hits = np.zeros(num_classes)
    counts = np.zeros(num_classes)
    order_hits = np.zeros(num_classes // 2)
    with torch.no_grad():
        for batch in runner.build_dataloader(runner.cfg.test_dataloader):
            for sample in model.test_step(batch):
                label = int(sample.gt_label)
                scores = sample.pred_score
                own, reversal = scores[label], scores[label ^ 1]
                counts[label] += 1
                hits[label] += int(scores.argmax()) == label
                order_hits[label // 2] += bool(own > reversal)
    per_class = hits / np.maximum(counts, 1)
    pair_counts = counts.reshape(-1, 2).sum(1)
    return dict(
        top1=float(hits.sum() / counts.sum()),
        test_clips=int(counts.sum()),
        per_class=per_class.round(4).tolist(),
        pairs=(order_hits / np.maximum(pair_counts, 1)).round(4).tolist())


def measure_cost(model_cfg: Config, num_segments: int, size: int,
                 train_batch: int, num_classes: int) -> Dict:
    """GFLOPs, parameters, CPU latency and training peak memory of a model.

    Measured as ``tools/analysis/benchmark.py`` does
    (:mod:`mmblvnet.utils.profiling`), on fresh random weights: FLOPs and
    latency on one clip of ``num_segments`` frames of ``size`` pixels,
    peak memory on one SGD step over ``train_batch`` such clips.
    """
    model = MODELS_REGISTRY.build(copy.deepcopy(model_cfg))
    info = recognizer_complexity(model, (1, num_segments, 3, size, size))
    clip = torch.randn(1, num_segments, 3, size, size)
    cpu = torch.device('cpu')
    latency = interleaved_medians(
        dict(model=functools.partial(inference, model.eval(), clip)),
        repeats=5, warmup=2, device=cpu)['model']
    step = TrainStep(
        model, torch.randn(train_batch, num_segments, 3, size, size),
        num_classes)
    step()  # creates the momentum buffers, as in training
    return dict(gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6,
                latency_ms=latency * 1e3,
                train_memory_mb=train_peak_bytes(step) / 2**20)


def run_one(run: Run, data_root: str, num_classes: int, budget_s: float,
            work_dir: str, frame_size: int = 32) -> Dict:
    """Train one run within the budget, test it and measure its cost."""
    cfg = run_config(run, data_root, num_classes, work_dir, frame_size)
    max_iters = calibrate_iterations(cfg, budget_s)
    _set_schedule(cfg, max_iters)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    result = dict(asdict(run), name=run.name, family=MODELS[run.model][0],
                  frame_size=cfg.frame_size,
                  lr=cfg.optim_wrapper.optimizer.lr,
                  iters=max_iters, clips_seen=max_iters *
                  cfg.train_dataloader.batch_size, train_s=round(train_s, 1))
    result.update(evaluate(runner, num_classes))
    result.update(
        measure_cost(cfg.model, run.num_segments, cfg.frame_size,
                     cfg.train_dataloader.batch_size, num_classes))
    return result


def prepare_data(out_dir: str, setting: str, quick: bool,
                 num_classes: int) -> str:
    """Generate (or reuse) the data set of a setting."""
    root = osp.join(out_dir, 'data', setting)
    generate(root, clips_per_class=40 if quick else 200,
             num_classes=num_classes, **SETTINGS[setting])
    return root


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 4 models, T=8, small data')
    parser.add_argument('--out-dir', default=None,
                        help='results folder (default work_dirs/study or '
                        'work_dirs/study_quick)')
    parser.add_argument('--budget', type=float, default=None,
                        help='training seconds per run (default 120, '
                        'quick 25)')
    parser.add_argument('--doc', default=None,
                        help='write the report here (default: '
                        'docs/study.md for the full study)')
    parser.add_argument('--num-classes', type=int, default=6)
    parser.add_argument('--frame-size', type=int, default=32,
                        help='frames are resized to this many pixels')
    parser.add_argument('--only', nargs='+', metavar='MODEL',
                        help='run only these models of the plan')
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Run the study, write ``results.json`` and the report."""
    from .study_report import write_report
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'study_quick' if args.quick else 'study')
    budget = args.budget or (25 if args.quick else 120)
    doc = args.doc or (None if args.quick else osp.join('docs',
                                                        'study.md'))
    class_names(args.num_classes)  # validates before any work
    os.makedirs(out_dir, exist_ok=True)
    logger = MMLogger.get_instance('mmblvnet.study')
    started = time.time()
    results = []
    runs = [run for run in plan(args.quick)
            if args.only is None or run.model in args.only]
    for run in runs:
        root = prepare_data(out_dir, run.setting, args.quick,
                            args.num_classes)
        result = run_one(run, root, args.num_classes, budget,
                         osp.join(out_dir, 'runs', run.name.replace(' ', '_')),
                         args.frame_size)
        results.append(result)
        logger.info(f'{run.name}: top-1 {result["top1"]:.3f} after '
                    f'{result["iters"]} iters ({time.time() - started:.0f}'
                    ' s so far)')
        with open(osp.join(out_dir, 'results.json'), 'w') as f:
            json.dump(results, f, indent=1)
    command = 'python -m mmblvnet.study' + (' --quick' if args.quick
                                            else '')
    write_report(results, out_dir, doc, command=command, budget_s=budget,
                 minutes=(time.time() - started) / 60)
    return results


if __name__ == '__main__':
    main()
