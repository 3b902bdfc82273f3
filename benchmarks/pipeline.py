"""Does the data pipeline keep up with the model? Both measured in one run.

    python -m benchmarks.pipeline CONFIG [--split train|val|test]
        [--videos LIST[:ROOT] ...] [--decoders stock torchcodec]
        [--workers N] [--batches B] [--samples S] [--threads 1]
        [--device cpu|cuda] [--frames 16] [--size 224] [--model-batch N]
        [--out-dir DIR] [--quick]

For each video list (``--videos``; default: the split's own ``ann_file``
and ``data_prefix``; ``ROOT`` replaces the prefix) and each decoder
(``stock``: the config's pipeline as it is; ``torchcodec``: the same
pipeline with ``DecordInit``/``DecordDecode`` replaced by
``TorchCodecInit``/``TorchCodecDecode``, the two-line switch of
docs/data.md), the tool measures:

- per transform: the median time per clip over ``--samples`` samples in
  this process, on ``--threads`` torch threads, the variants taking turns
  sample by sample (a change in the load of a shared machine hits all of
  them alike); every decoder sees the same samples with the same random
  draws, and the table says whether
  the decoded frames were identical to the first decoder's, and how many
  frames a decoder must decode per clip at least to return the sampled
  ones (from the keyframe before each; read from the file's packets),
  which bounds what any decoder can gain on that file;
- the data set's clips/s through a real ``DataLoader`` with ``--workers``
  workers (one torch and OpenCV thread each) and the split's batch size,
  over ``--batches`` batches after a first one (worker start-up), and
  that rate per worker (the variants' DataLoaders run one after another,
  before anything is decoded in this process: workers forked from a
  process that has decoded can deadlock).

Beside them it measures bLVNet-TAM-50 ``frames/2``x2 and MMAction2's
TSM-R50 ``frames``f (random weights;
:mod:`benchmarks.compared_models`) on ``--device``:
inference and SGD training-step clips/s on random clips of
``--model-batch`` clips (default: 1 on CPU, the split's batch size on
CUDA), with the same timing primitives
(:mod:`benchmarks.profiling`). "Workers needed" is the model's
training clips/s over one worker's clips/s, rounded up: the data-loader
workers this machine needs to keep that model busy. Nothing is estimated:
on CPU the model numbers are the CPU's.

Results go to ``OUT_DIR/bench_pipeline.json`` and ``.md`` (default
``work_dirs/bench_pipeline``); the Markdown is also printed. ``--quick``
(2 samples, 2 batches, 4-frame clips at 64 px, one timed model run) is a
smoke test, not a measurement. A user error (a missing list, ``--device
cuda`` without a GPU) is one ``error:`` line and exit status 1
(``--debug`` shows the traceback).
"""
import argparse
import copy
import functools
import hashlib
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmaction.registry import DATASETS
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from benchmarks.compared_models import (
    build_models,
    model_labels,
    random_clips,
)
from benchmarks.keyframes import frames_to_decode, keyframe_indices
from benchmarks.machine import check_device
from benchmarks.options import (
    CLIP_OPTIONS,
    DEVICES,
    add_int_options,
    check_frames,
)
from benchmarks.profiling import TrainStep, inference, interleaved_medians
from mmblvnet.datasets.pipeline import run_transforms
from mmblvnet.utils.cli import run_main

REPO = Path(__file__).resolve().parents[1]

# Decoder variants: transform types replaced in the config's pipeline.
DECODERS = {
    'stock': {},
    'torchcodec': {'DecordInit': 'TorchCodecInit',
                   'DecordDecode': 'TorchCodecDecode'},
}
MODELS = ('blvnet', 'tsm')
# Keys of the data prefix by data set type (videos or frame folders).
PREFIX_KEYS = {'VideoDataset': 'video', 'RawframeDataset': 'img'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Clips/s of a config\'s data pipeline and of the '
        'models, and the data-loader workers the models need')
    parser.add_argument('config')
    parser.add_argument('--split', choices=('train', 'val', 'test'),
                        default='train')
    parser.add_argument('--videos', nargs='+', metavar='LIST[:ROOT]',
                        help='video (or frame-folder) lists, each with '
                        'the folder its paths are relative to (default: '
                        'the config\'s data_prefix)')
    parser.add_argument('--decoders', nargs='+', choices=sorted(DECODERS),
                        default=['stock', 'torchcodec'])
    parser.add_argument('--device', choices=DEVICES, default='cpu')
    add_int_options(parser, (
        ('--workers', 2, 'DataLoader workers'),
        ('--batches', 20, 'timed DataLoader batches per variant'),
        ('--samples', 16, 'samples timed transform by transform'),
        ('--threads', 1, 'torch threads of this process (the model)'),
        *CLIP_OPTIONS,
        ('--repeats', 3, 'timed model runs (median)'),
    ))
    parser.add_argument('--model-batch', type=int,
                        help='clips per model run (default: 1 on CPU, the '
                        'split\'s batch size on CUDA)')
    parser.add_argument('--out-dir', default='work_dirs/bench_pipeline')
    parser.add_argument('--quick', action='store_true',
                        help='tiny settings: a smoke test of the tool')
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.batches, args.repeats = 2, 2, 1
        args.frames, args.size = 4, 64
    check_frames(parser, args.frames)
    return args


def swap_decoder(pipeline: Sequence[dict], decoder: str) -> List[dict]:
    """A copy of ``pipeline`` with the decoder's transform types."""
    replaced = copy.deepcopy(list(pipeline))
    for transform in replaced:
        transform['type'] = DECODERS[decoder].get(transform['type'],
                                                  transform['type'])
    return replaced


def video_sets(dataset_cfg: ConfigDict,
               videos: Optional[Sequence[str]]) -> Dict[str, ConfigDict]:
    """Data set configs by list name: the config's own, or one per
    ``LIST[:ROOT]`` item."""
    if not videos:
        return {Path(dataset_cfg.ann_file).name: dataset_cfg}
    key = PREFIX_KEYS.get(dataset_cfg.type)
    if key is None:
        raise ValueError(f'--videos needs a {" or ".join(PREFIX_KEYS)}, '
                         f'the config\'s data set is {dataset_cfg.type}')
    sets = {}
    for item in videos:
        ann_file, _, root = item.partition(':')
        if not os.path.isfile(ann_file):
            raise ValueError(f'--videos {item}: no list file {ann_file}')
        cfg = copy.deepcopy(dataset_cfg)
        cfg.ann_file = ann_file
        if root:
            cfg.data_prefix = {key: root}
        sets[item] = cfg
    return sets


def _single_thread_worker(worker_id: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _frames_digest(results: dict) -> str:
    return hashlib.sha1(np.ascontiguousarray(
        results['inputs'].numpy()).tobytes()).hexdigest()


def _run_sample(dataset, index: int,
                keyframes: Dict[str, np.ndarray]) -> Dict:
    """Sample ``index`` through the pipeline after seeding numpy's and
    Python's generators with it: its transform times, a digest of its
    frames and, for a video, the frames to decode."""
    index %= len(dataset)
    np.random.seed(index)
    random.seed(index)
    seconds = []
    # MMAction2's transforms fill in this dict (the packing one returns a
    # new one), so it keeps the sampled frame indices.
    info = dataset.get_data_info(index)
    results = run_transforms(dataset.pipeline.transforms, info, seconds)
    path, decoded = info.get('filename'), None
    if path is not None:
        if path not in keyframes:
            keyframes[path] = keyframe_indices(path)
        decoded = frames_to_decode(keyframes[path], info['frame_inds'])
    return dict(seconds=seconds, digest=_frames_digest(results),
                decoded=decoded)


def time_transforms(datasets: Dict[Tuple[str, str], object], samples: int,
                    bar: ProgressBar) -> Dict[Tuple[str, str], Dict]:
    """Per data set variant: the median ms per clip of each transform, a
    digest of each sample's output frames and, for videos, the median
    number of frames a decoder must decode per clip
    (:func:`frames_to_decode`, from the keyframes).

    The variants take turns sample by sample, so a change in the load of
    a shared machine hits all of them alike; sample ``i`` of every variant
    draws the same frame indices and crops (see :func:`_run_sample`). One
    untimed sample of each goes first (lazy imports, first allocations).

    Returns:
        dict: Per variant ``transforms_ms`` (``{'1 SampleFrames': ms,
        ...}`` in pipeline order, with a ``'total'``), ``digests`` and
        ``frames_to_decode`` (None for frame folders).
    """
    keyframes = {}
    runs = {key: [] for key in datasets}
    for i in range(-1, samples):
        for key, dataset in datasets.items():
            run = _run_sample(dataset, i, keyframes)
            if i >= 0:
                runs[key].append(run)
                bar.update()
    report = {}
    for key, dataset in datasets.items():
        columns = zip(*(run['seconds'] for run in runs[key]))
        medians = {
            f'{i} {type(t).__name__}': 1e3 * statistics.median(column)
            for i, (t, column) in enumerate(
                zip(dataset.pipeline.transforms, columns))}
        medians['total'] = sum(medians.values())
        decoded = [run['decoded'] for run in runs[key]
                   if run['decoded'] is not None]
        report[key] = dict(
            transforms_ms=medians,
            digests=[run['digest'] for run in runs[key]],
            frames_to_decode=statistics.median(decoded) if decoded else None)
    return report


def loader_rate(dataset, batch_size: int, workers: int, batches: int,
                bar: ProgressBar) -> float:
    """Clips/s of a DataLoader over ``batches`` batches after the first."""
    indices = [i % len(dataset) for i in range((batches + 1) * batch_size)]
    loader = DataLoader(
        torch.utils.data.Subset(dataset, indices), batch_size=batch_size,
        num_workers=workers, collate_fn=pseudo_collate,
        worker_init_fn=_single_thread_worker if workers else None)
    batches_seen = iter(loader)
    next(batches_seen)
    bar.update()
    start = time.perf_counter()
    clips = 0
    for batch in batches_seen:
        clips += len(batch['inputs'])
        bar.update()
    return clips / (time.perf_counter() - start)


def model_rates(args: argparse.Namespace,
                batch: int) -> Dict[str, Dict[str, float]]:
    """Inference and training-step clips/s of bLVNet-TAM-50 and TSM-R50
    on random clips of ``batch`` clips (their runs take turns)."""
    device = torch.device(args.device)
    models = build_models(REPO, MODELS, frames=args.frames,
                          num_classes=args.num_classes, device=device)
    clips = random_clips(batch, args.frames, args.size, device)
    for model in models.values():
        model.eval()
    infer = interleaved_medians(
        {name: functools.partial(inference, model, clips)
         for name, model in models.items()}, args.repeats, 1, device)
    train = interleaved_medians(
        {name: TrainStep(model, clips, args.num_classes)
         for name, model in models.items()}, args.repeats, 1, device)
    return {name: dict(infer_clips_per_s=batch / infer[name],
                       train_clips_per_s=batch / train[name])
            for name in models}


def measure(args: argparse.Namespace) -> Dict:
    """Every number of the report (see the module docstring)."""
    check_device(args.device)  # before minutes of data loading
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    loader_cfg = cfg[f'{args.split}_dataloader']
    sets = video_sets(loader_cfg.dataset, args.videos)
    has_decord = any(t['type'] in DECODERS['torchcodec']
                     for t in loader_cfg.dataset.pipeline)
    decoders = args.decoders if has_decord else ['stock']
    steps = len(sets) * len(decoders) * (args.samples + args.batches + 1)
    bar = ProgressBar(steps, file=sys.stderr)
    torch.set_num_threads(args.threads)
    datasets = {}
    for name, dataset_cfg in sets.items():
        for decoder in decoders:
            variant = copy.deepcopy(dataset_cfg)
            variant.pipeline = swap_decoder(variant.pipeline, decoder)
            datasets[name, decoder] = DATASETS.build(variant)
    # All DataLoaders first: workers forked from a process that has
    # decoded (thread pools of the decoders, OpenCV) can deadlock.
    rates = {key: loader_rate(dataset, loader_cfg.batch_size, args.workers,
                              args.batches, bar)
             for key, dataset in datasets.items()}
    timed = time_transforms(datasets, args.samples, bar)
    rows = []
    for (name, decoder), result in timed.items():
        rate = rates[name, decoder]
        rows.append(dict(
            videos=name, decoder=decoder,
            transforms_ms=result['transforms_ms'],
            frames_to_decode=result['frames_to_decode'],
            same_frames=result['digests'] == timed[
                name, decoders[0]]['digests'],
            loader_clips_per_s=rate,
            clips_per_s_per_worker=rate / max(1, args.workers)))
    sys.stderr.write('\n')
    model_batch = args.model_batch or (
        loader_cfg.batch_size if args.device == 'cuda' else 1)
    models = model_rates(args, model_batch)
    for row in rows:
        row['workers_needed'] = {
            name: math.ceil(rates['train_clips_per_s'] /
                            row['clips_per_s_per_worker'])
            for name, rates in models.items()}
    return dict(config=args.config, split=args.split, device=args.device,
                workers=args.workers, threads=args.threads,
                batch_size=loader_cfg.batch_size, model_batch=model_batch,
                frames=args.frames, size=args.size, quick=args.quick,
                cpu_count=os.cpu_count(), pipelines=rows, models=models)


def format_report(report: Dict) -> str:
    """The Markdown tables of a :func:`measure` report."""
    labels = model_labels(report['frames'])
    first = report['pipelines'][0]
    base = first['clips_per_s_per_worker']
    base_ms = first['transforms_ms']['total']
    lines = [
        f"# Data pipeline vs model: {report['config']} "
        f"({report['split']}, {report['device']})", '',
        f"DataLoader: {report['workers']} workers, batch "
        f"{report['batch_size']}; models: batch {report['model_batch']}, "
        f"{report['frames']} frames at {report['size']} px, "
        f"{report['threads']} thread(s); {report['cpu_count']} CPUs.", '',
        '| videos | decoder | same frames | frames to decode per clip '
        '(at least) | decode+pipeline ms/clip (1 thread) | vs first row '
        '(1 thread) | clips/s per worker | vs first row (DataLoader) | '
        f"workers needed ({labels['blvnet']} / {labels['tsm']} training) |",
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for row in report['pipelines']:
        needed = row['workers_needed']
        decoded = row['frames_to_decode']
        lines.append(
            f"| {row['videos']} | {row['decoder']} | "
            f"{'yes' if row['same_frames'] else 'NO'} | "
            f"{'-' if decoded is None else f'{decoded:g}'} | "
            f"{row['transforms_ms']['total']:.1f} | "
            f"{base_ms / row['transforms_ms']['total']:.2f}x | "
            f"{row['clips_per_s_per_worker']:.1f} | "
            f"{row['clips_per_s_per_worker'] / base:.2f}x | "
            f"{needed['blvnet']} / {needed['tsm']} |")
    lines += ['', '| model | inference clips/s | training clips/s |',
              '| --- | --- | --- |']
    for name, rates in report['models'].items():
        lines.append(f"| {labels[name]} | {rates['infer_clips_per_s']:.2f} "
                     f"| {rates['train_clips_per_s']:.2f} |")
    lines += ['', 'Per transform, median ms per clip (1 thread):', '']
    for row in report['pipelines']:
        steps = ', '.join(f'{key} {ms:.2f}' for key, ms in
                          row['transforms_ms'].items() if key != 'total')
        lines.append(f"- {row['videos']}, {row['decoder']}: {steps}")
    if report['quick']:
        lines += ['', '(--quick: a smoke test, not a measurement)']
    return '\n'.join(lines) + '\n'


def run(argv: List[str]) -> int:
    """Measure, write the JSON and Markdown to ``--out-dir``, print the
    Markdown."""
    args = parse_args(argv)
    report = measure(args)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'bench_pipeline.json').write_text(
        json.dumps(report, indent=2) + '\n')
    markdown = format_report(report)
    (out_dir / 'bench_pipeline.md').write_text(markdown)
    print(markdown)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
