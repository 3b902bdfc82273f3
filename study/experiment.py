"""The study's runs: one recipe, one CPU budget, a learning curve each.

Every run trains one model from scratch with the CPU demo's model and
data pipeline (AdamW at a constant rate with a late cosine decay, batch 8,
frames resized to ``frame_size``, glibc's default malloc) on the synthetic
order-only videos, for as many iterations as fit its budget of process
CPU seconds (a few timed steps calibrate the iteration count, so a model
that is 3x cheaper sees 3x more clips). CPU time rather than wall time is
the budget, so that runs sharing the machine with other work, or with
each other (``jobs``), are still charged only for their own compute.

While it trains, a run evaluates held-out top-1 and order accuracy at
evenly spaced iterations (the learning curve; evaluation time is not
charged to the budget); its last point uses the whole held-out split.
On a GPU (``device='cuda'``) the budget is wall time, synchronised with
the device. The configs come from the installed package
(:func:`~mmblvnet.quickstart.packaged_config` and MMAction2's through
``mmengine.hub``), the runner is the tools' one
(:func:`mmblvnet.utils.cli.build_runner`).
"""
import copy
import functools
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional

import numpy as np
import torch
from mmaction.registry import MODELS as MODELS_REGISTRY
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.hooks import Hook
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from benchmarks.profiling import (
    TrainStep,
    inference,
    interleaved_medians,
    train_peak_bytes,
)
from mmblvnet.quickstart import packaged_config, use_generated_data
from mmblvnet.utils import cli
from mmblvnet.utils.complexity import recognizer_complexity

_TSN = ('mmaction::recognition/tsn/'
        'tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py')
_TSM = ('mmaction::recognition/tsm/'
        'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py')

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
    'bLVNet-TAM-50 k3 causal': ('bLVNet-TAM', dict(blending_frames=3,
                                                   causal=True)),
}
# The pair the paper compares head to head, run with three seeds.
HEAD_TO_HEAD = ('bLVNet-TAM-50 k3', 'TSM-R50')
# The online (causal) TAM, run with three seeds against offline k3.
CAUSAL = 'bLVNet-TAM-50 k3 causal'
MIN_ITERS = 20  # a run never trains for fewer iterations
CURVE_POINTS = 8  # evaluations along a run, the last one included
DECAY_FRACTION = 0.3  # the learning rate decays over this end of a run
CURVE_CLIPS_PER_CLASS = 16  # held-out clips per class of the inner points


@dataclass(frozen=True)
class Run:
    """One training run of the study."""
    model: str
    num_segments: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f'{self.model} T{self.num_segments} s{self.seed}'


def plan(quick: bool) -> List[Run]:
    """The runs of the study, the most informative first.

    Full: seed 0 of bLVNet-TAM-50 k3, TSN-R50 and TSM-R50 at T = 8, then
    seeds 1 and 2 of the head-to-head pair, seeds 0 to 2 of the causal
    k3, the other variants at T = 8, and bLVNet-TAM-50 k3 at T = 16 (15
    runs). Quick: bLVNet-TAM-50 k3 against the order-blind TSN-R50 at
    T = 8.
    """
    if quick:
        return [Run('bLVNet-TAM-50 k3', 8), Run('TSN-R50', 8)]
    runs = [Run('bLVNet-TAM-50 k3', 8), Run('TSN-R50', 8),
            Run('TSM-R50', 8)]
    runs += [Run(model, 8, seed) for seed in (1, 2)
             for model in HEAD_TO_HEAD]
    runs += [Run(CAUSAL, 8, seed) for seed in (0, 1, 2)]
    runs += [Run(model, 8) for model in MODELS
             if model not in HEAD_TO_HEAD + ('TSN-R50', CAUSAL)]
    return runs + [Run(HEAD_TO_HEAD[0], 16)]


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
        model = copy.deepcopy(Config.fromfile(packaged_config()).model)
        model.backbone.num_segments = run.num_segments
        model.backbone.tam_cfg = (None if tam_cfg is None else dict(
            model.backbone.tam_cfg, **tam_cfg))
    model.cls_head.num_classes = num_classes
    return model


def run_config(run: Run, data_root: str, num_classes: int, work_dir: str,
               frame_size: int, lr: float) -> Config:
    """The demo config with the run's model, data, frames, frame size and
    learning rate (its AdamW runs fused).

    Loading runs in the training process (``num_workers=0``), so decoding
    is charged to the run's CPU budget like everything else it does.
    """
    cfg = Config.fromfile(packaged_config())
    cfg.frame_size = frame_size
    cfg.model = model_config(run, num_classes)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=run.seed)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=-1, save_last=False)
    cfg.optim_wrapper.optimizer.update(lr=lr, fused=True)
    use_generated_data(cfg, data_root)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.num_workers = 0
        loader.persistent_workers = False
        for step in loader.dataset.pipeline:
            if step.type == 'SampleFrames':
                step.num_clips = run.num_segments
            elif step.type == 'Resize':
                step.scale = (frame_size, frame_size)
    return cfg


def set_schedule(cfg: Config, max_iters: int) -> None:
    """Iteration-based training: a short warm-up, a constant learning rate,
    and cosine decay over the last :data:`DECAY_FRACTION` of the run.

    From scratch, held-out accuracy stays near the frame-level ceiling for
    a few hundred iterations before a model starts to use frame order; a
    decay over the whole run lowers the rate before that and delays it.
    """
    warmup = max(1, min(50, max_iters // 10))
    decay_start = max(warmup, max_iters - round(max_iters * DECAY_FRACTION))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=max_iters + 1)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', T_max=max_iters - decay_start,
             eta_min=1e-5, by_epoch=False, begin=decay_start, end=max_iters)
    ]


def build_runner(cfg: Config) -> Runner:
    """The tools' runner of ``cfg``, feeding the backbone contiguous frames.

    MMAction2's pipeline yields frames with channels-last strides; a
    model with contiguous (NCHW) weights then converts every conv weight
    on every call, about 10% of a training step at the study's frame
    sizes. Applied to every model alike.
    """
    runner = cli.build_runner(cfg)
    runner.model.backbone.register_forward_pre_hook(
        lambda module, args: (args[0].contiguous(), *args[1:]))
    return runner


def budget_clock(device: str) -> Callable[[], float]:
    """Seconds charged to a run: process CPU time on ``'cpu'``, wall time
    after a device synchronisation on ``'cuda'``."""
    if device == 'cpu':
        return time.process_time

    def wall() -> float:
        torch.cuda.synchronize()
        return time.perf_counter()

    return wall


def _endless(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def calibrate_iterations(cfg: Config, budget_s: float,
                         clock: Callable[[], float], steps: int = 3) -> int:
    """Iterations whose training fits ``budget_s`` seconds of ``clock``,
    from the time of a few training steps."""
    probe = copy.deepcopy(cfg)
    probe.work_dir = f'{cfg.work_dir}/calibration'
    set_schedule(probe, max_iters=1 + steps)
    runner = build_runner(probe)
    model = runner.model.train()
    optim = runner.build_optim_wrapper(probe.optim_wrapper)
    batches = _endless(runner.build_dataloader(probe.train_dataloader))
    model.train_step(next(batches), optim)  # warm-up
    start = clock()
    for _ in range(steps):
        model.train_step(next(batches), optim)
    step_s = (clock() - start) / steps
    return max(MIN_ITERS, int(budget_s / step_s))


def evaluate(model: torch.nn.Module, loader: Iterable,
             num_classes: int) -> Dict:
    """Top-1, per-class and per-pair order accuracy on held-out clips.

    The order accuracy of a pair of time-reversed classes is how often a
    clip of the pair scores higher for its own class than for its
    reversal: 50% for a model blind to frame order, whatever it thinks of
    the other classes.

    Returns:
        dict: ``top1``, ``order`` (mean over pairs), ``test_clips``,
        ``per_class`` (list) and ``pairs`` (order accuracy of each
        reversed pair, a list).
    """
    was_training = model.training
    model.eval()
    hits = np.zeros(num_classes)
    counts = np.zeros(num_classes)
    order_hits = np.zeros(num_classes // 2)
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                label = int(sample.gt_label)
                scores = sample.pred_score
                counts[label] += 1
                hits[label] += int(scores.argmax()) == label
                order_hits[label // 2] += bool(scores[label] >
                                               scores[label ^ 1])
    model.train(was_training)
    pairs = order_hits / np.maximum(counts.reshape(-1, 2).sum(1), 1)
    return dict(
        top1=float(hits.sum() / counts.sum()),
        order=float(pairs.mean()),
        test_clips=int(counts.sum()),
        per_class=(hits / np.maximum(counts, 1)).round(4).tolist(),
        pairs=pairs.round(4).tolist())


class LearningCurveHook(Hook):
    """Evaluates a run at evenly spaced iterations, charging it nothing.

    Args:
        points (int): Evaluations, the last at the final iteration.
        evaluate (Callable): ``evaluate(model, final)`` returns the
            metrics of :func:`evaluate`; ``final`` is True at the last
            iteration.
        name (str): Run name printed with each point.
        clock (Callable): The budget's clock (:func:`budget_clock`).
    """
    priority = 'LOWEST'

    def __init__(self, points: int, evaluate: Callable[..., Dict],
                 name: str, clock: Callable[[], float]) -> None:
        self.num_points = points
        self.evaluate = evaluate
        self.name = name
        self.clock = clock
        self.points: List[Dict] = []
        self.final: Optional[Dict] = None
        self._start = self._eval_s = 0.0
        self._due = set()

    def before_train(self, runner) -> None:
        total = runner.max_iters
        self._due = {round(total * (i + 1) / self.num_points)
                     for i in range(self.num_points)}
        self._start = self.clock()
        self._eval_s = 0.0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        done, total = runner.iter + 1, runner.max_iters
        if done not in self._due:
            return
        started = self.clock()
        train_s = started - self._start - self._eval_s
        metrics = self.evaluate(runner.model, final=done == total)
        self._eval_s += self.clock() - started
        self.points.append(dict(iter=done, seconds=round(train_s, 1),
                                top1=metrics['top1'],
                                order=metrics['order']))
        if done == total:
            self.final = dict(metrics, train_s=round(train_s, 1))
        print(f'[{self.name}] {done}/{total} iters, {train_s:.0f} s: '
              f'held-out top-1 {metrics["top1"]:.1%}, order '
              f'{metrics["order"]:.1%} on {metrics["test_clips"]} clips',
              flush=True)


def measure_cost(model_cfg: Config, num_segments: int, size: int,
                 train_batch: int, num_classes: int) -> Dict:
    """GFLOPs, parameters, CPU latency and training peak memory of a model.

    Measured as ``python -m benchmarks.model`` does
    (:mod:`benchmarks.profiling`), on fresh random weights: FLOPs and
    latency on one clip of ``num_segments`` frames of ``size`` pixels,
    peak memory on one SGD step over ``train_batch`` such clips.
    """
    # Outside a runner: MMAction2's scope resolves the data preprocessor.
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS_REGISTRY.build(copy.deepcopy(model_cfg))
    info = recognizer_complexity(model, (1, num_segments, 3, size, size))
    clip = torch.randn(1, num_segments, 3, size, size)
    latency = interleaved_medians(
        dict(model=functools.partial(inference, model.eval(), clip)),
        repeats=5, warmup=2, device=torch.device('cpu'))['model']
    step = TrainStep(
        model, torch.randn(train_batch, num_segments, 3, size, size),
        num_classes)
    step()  # creates the momentum buffers, as in training
    return dict(gflops=info['flops'] / 1e9, params_m=info['params'] / 1e6,
                latency_ms=latency * 1e3,
                train_memory_mb=train_peak_bytes(step) / 2**20)


def check_device(device: str) -> None:
    """Refuse a run on ``device`` in a process whose MMEngine runner
    trains elsewhere.

    MMEngine picks the runner's device once, when it is imported
    (``mmengine.device.get_device``): a CPU run needs a process started
    with ``CUDA_VISIBLE_DEVICES=''`` on a machine with a GPU (the study's
    command starts its workers so).

    Raises:
        ValueError: If the runner would train on another device.
    """
    found = get_device()
    if found != device:
        hint = ("start the process with CUDA_VISIBLE_DEVICES=''"
                if device == 'cpu' else 'this machine has no CUDA device')
        raise ValueError(f'--device {device}: MMEngine\'s runner trains on '
                         f'{found} in this process; {hint}')


def run_one(run: Run, data_root: str, num_classes: int, budget_s: float,
            work_dir: str, frame_size: int, lr: float, threads: int = 1,
            device: str = 'cpu') -> Dict:
    """Train one run within its budget, test it and measure its cost.

    ``device`` is where MMEngine's runner trains in this process
    (:func:`check_device`); on ``'cpu'`` the budget is the CPU time of the
    whole run.

    Returns:
        dict: The run's settings, ``iters``, ``clips_seen``, ``train_s``
        (seconds charged to the budget), the metrics of :func:`evaluate`
        on the whole held-out split, ``curve`` (a list of ``iter``,
        ``seconds``, ``top1``, ``order`` at ``seconds`` of training) and
        the cost of :func:`measure_cost`.
    """
    check_device(device)
    torch.set_num_threads(threads)
    clock = budget_clock(device)
    cfg = run_config(run, data_root, num_classes, work_dir, frame_size, lr)
    max_iters = calibrate_iterations(cfg, budget_s, clock)
    set_schedule(cfg, max_iters)
    runner = build_runner(cfg)
    held_out = runner.build_dataloader(cfg.test_dataloader)
    curve_cfg = copy.deepcopy(cfg.test_dataloader)
    curve_cfg.dataset.indices = CURVE_CLIPS_PER_CLASS * num_classes
    curve_clips = runner.build_dataloader(curve_cfg)

    def score(model, final):
        return evaluate(model, held_out if final else curve_clips,
                        num_classes)

    curve = LearningCurveHook(CURVE_POINTS, score, run.name, clock)
    runner.register_hook(curve)
    runner.train()
    result = dict(asdict(run), name=run.name, family=MODELS[run.model][0],
                  frame_size=frame_size,
                  lr=lr, iters=max_iters,
                  device=device, threads=threads,
                  clips_seen=max_iters * cfg.train_dataloader.batch_size,
                  curve=curve.points,
                  curve_clips_per_class=CURVE_CLIPS_PER_CLASS)
    result.update(curve.final)
    result.update(
        measure_cost(cfg.model, run.num_segments, frame_size,
                     cfg.train_dataloader.batch_size, num_classes))
    return result


def reference_costs(num_classes: int, num_segments: int = 8,
                    size: int = 224) -> Dict[str, Dict]:
    """Cost at the paper's frame size of TSN-R50, TSM-R50 and
    bLVNet-TAM-50 k3 (T frames, 224x224; training memory of 2 clips), as
    ``python -m benchmarks.model`` measures it."""
    return {
        model: measure_cost(model_config(Run(model, num_segments),
                                         num_classes),
                            num_segments, size, 2, num_classes)
        for model in ('TSN-R50', 'TSM-R50', 'bLVNet-TAM-50 k3')
    }
