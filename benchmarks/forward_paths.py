"""Interleaved A/B of bLResNet's second forward paths on the CPU.

Each case runs both forms of one computation on the same model and
input, in one process; the forms take turns in every round and the median
per form is reported, so a change of the machine's load hits both alike.
The 1-minute load average is printed beside every case (other processes
may share the cores).

Cases:

- ``train``: the training step of the quickstart (the demo config's
  bLVNet-TAM-50, 8 frames at 32 x 32, 8 clips: forward, loss, backward,
  fused AdamW step) with :class:`SmallMapConv2d` against the plain
  ``nn.Conv2d`` convolution.
- ``onnx``: bLVNet-TAM-50 8x2 (16 frames at 224 x 224, batch 1, random
  weights) exported in its export form (what ``export_onnx`` writes)
  against the same model exported in its eager form, each in ONNX Runtime
  and OpenVINO, fp32 and static int8 (``quantize_int8``, 2 random
  calibration clips: timing does not depend on the ranges).

Usage, from a clone::

    python benchmarks/forward_paths.py --cases train onnx --threads 2
"""
import argparse
import contextlib
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, Iterator
from unittest import mock

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import mmblvnet  # noqa: F401  (registers the models)
from mmblvnet.apis.export import export_onnx, onnx_metadata, random_weights_
from mmblvnet.apis.quantize import quantize_int8
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.models.common.small_maps import SmallMapConv2d

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = 'configs/demo/blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py'
PAPER = 'configs/blvnet_tam_r50_8x.py'


def load() -> str:
    """The 1-minute load average."""
    return f'{os.getloadavg()[0]:.2f}'


def interleaved(steps: Dict[str, Callable[[], None]],
                rounds: int) -> Dict[str, float]:
    """Median seconds per step, the steps taking turns after a warm-up."""
    times = {name: [] for name in steps}
    for step in steps.values():
        step()
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


@contextlib.contextmanager
def plain_convolutions(active: bool) -> Iterator[None]:
    """``SmallMapConv2d`` runs ``nn.Conv2d``'s convolution while active."""
    with mock.patch.object(SmallMapConv2d, '_conv_forward',
                           nn.Conv2d._conv_forward) if active else \
            contextlib.nullcontext():
        yield


def training_steps() -> Dict[str, Callable[[], None]]:
    """The quickstart's training step, with and without small-map convs."""
    model = MODELS.build(Config.fromfile(f'{REPO}/{DEMO}').model).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=3e-4, weight_decay=1e-4, fused=True)
    inputs = list(torch.randint(0, 256, (8, 8, 3, 32, 32)).float())
    samples = [ActionDataSample().set_gt_label(i % 6) for i in range(8)]

    def step(plain: bool) -> None:
        with plain_convolutions(plain):
            data = model.data_preprocessor(
                dict(inputs=inputs, data_samples=samples), training=True)
            losses = model(**data, mode='loss')
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()

    return {
        'SmallMapConv2d (shipped)': lambda: step(False),
        'nn.Conv2d': lambda: step(True),
    }


def runtime_steps(folder: str, threads: int) -> Dict[str, Callable[[], None]]:
    """Batch-1 inference of the export form and of the eager form, in
    ONNX Runtime and OpenVINO, fp32 and int8."""
    cfg = Config.fromfile(f'{REPO}/{PAPER}')
    model = MODELS.build(cfg.model)
    clip_shape = (cfg.model.backbone.num_segments, 3, 224, 224)
    random_weights_(model, clip_shape)
    generator = torch.Generator().manual_seed(1)
    clips = torch.randn(1, *clip_shape, generator=generator).numpy()
    steps = {}
    for form in ('export form (shipped)', 'eager form'):
        fp32 = f'{folder}/{len(steps)}.onnx'
        # The eager form: the model's modules do not see the export.
        with mock.patch.object(
                torch.onnx, 'is_in_onnx_export',
                lambda: False) if form == 'eager form' else \
                contextlib.nullcontext():
            export_onnx(model, clip_shape, fp32,
                        onnx_metadata(model, clip_shape[0]))
        int8 = fp32.replace('.onnx', '.int8.onnx')
        quantize_int8(fp32, int8, (torch.randn(
            1, *clip_shape, generator=generator).numpy() for _ in range(2)))
        for backend in ('onnxruntime', 'openvino'):
            for precision, path in (('fp32', fp32), ('int8', int8)):
                runner = RuntimeRecognizer(path, backend, threads)
                steps[f'{form}, {backend} {precision}'] = (
                    lambda runner=runner: runner.logits(clips))
    return steps


def report(title: str, medians: Dict[str, float], before: str) -> None:
    print(f'\n{title} (load average {before} before, {load()} after)')
    for name, seconds in medians.items():
        print(f'| {name} | {seconds * 1000:.0f} ms |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', nargs='+', choices=('train', 'onnx'),
                        default=['train', 'onnx'])
    parser.add_argument('--rounds', type=int, default=9)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmaction')
    print(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
          f'torch {torch.__version__}, {args.threads} threads', flush=True)
    if 'train' in args.cases:
        before = load()
        report('quickstart training step',
               interleaved(training_steps(), args.rounds), before)
    if 'onnx' in args.cases:
        with tempfile.TemporaryDirectory() as folder:
            steps = runtime_steps(folder, args.threads)
            before = load()
            report('bLVNet-TAM-50 8x2, batch 1, 224 x 224',
                   interleaved(steps, args.rounds), before)


if __name__ == '__main__':
    main()
