"""Command line of the temporal study (``python -m study``).

Runs the plan of :func:`~.experiment.plan` in ``--jobs`` worker
processes, saves every finished run to the results file at once
(atomically; ``docs/study_results.json`` for the full study, committed
with the report, ``OUT/results.json`` for ``--quick``) and writes the
report. Running it again with the same settings resumes: finished runs
are kept, only the missing ones train. User errors (results of other
settings, an odd ``--num-classes``) are one ``error:`` line, status 1.
"""
import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import os.path as osp
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, Iterator, List, Optional, Sequence

import torch

from mmblvnet.datasets.synthetic import class_names, generate
from mmblvnet.engine.atomic_io import atomic_write_bytes
from mmblvnet.utils.cli import run_main

from .experiment import DECAY_FRACTION, plan, reference_costs, run_one
from .report import write_report

# Data set of the study: 16-frame videos of 64x64 pixels.
CLIPS_PER_CLASS = dict(full=250, quick=60)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m study',
        description='Train TSN, TSM, bLVNet and bLVNet-TAM variants on '
        'order-only synthetic videos with one recipe and an equal compute '
        'budget, and write the report.')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: bLVNet-TAM-50 k3 and TSN-R50, '
                        'small data and budget')
    parser.add_argument('--out-dir', default=None,
                        help='folder of the data and the runs (default '
                        'work_dirs/study or work_dirs/study_quick)')
    parser.add_argument('--results', default=None,
                        help='results file, resumed if it exists (default '
                        'docs/study_results.json, quick: OUT/results.json)')
    parser.add_argument('--budget', type=float, default=None,
                        help='seconds of training per run: process CPU '
                        'time on cpu, wall time on cuda (default 1000, '
                        'quick 60)')
    parser.add_argument('--frame-size', type=int, default=None,
                        help='frames are resized to this many pixels '
                        '(default 32)')
    parser.add_argument('--lr', type=float, default=3e-4,
                        help='AdamW learning rate of every run (default '
                        '3e-4)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs trained at the same time (default 2)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads of each run (default 1)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--num-classes', type=int, default=4,
                        help='even number of classes, whole time-reversed '
                        'pairs (default 4: the two translation pairs; the '
                        'rotation pair, classes 5 and 6, stayed at chance '
                        'in a 1000 CPU-s run at 48x48)')
    parser.add_argument('--only', nargs='+', metavar='MODEL',
                        help='run only these models of the plan')
    parser.add_argument('--doc', default=None,
                        help='write the report here (default: '
                        'docs/study.md for the full study)')
    parser.add_argument('--fresh', action='store_true',
                        help='discard the results of an earlier run in '
                        '--out-dir instead of resuming')
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Dict:
    """What a finished run depends on: resuming needs the same."""
    mode = 'quick' if args.quick else 'full'
    return dict(quick=args.quick, budget_s=args.budget or
                (60.0 if args.quick else 1000.0),
                frame_size=args.frame_size or 32,
                lr=args.lr, decay_fraction=DECAY_FRACTION,
                num_classes=args.num_classes,
                clips_per_class=CLIPS_PER_CLASS[mode], threads=args.threads,
                device=args.device)


def load_state(path: str, settings: Dict, fresh: bool) -> Dict:
    """The saved state of ``path`` if it has the same settings, else a new
    one.

    Raises:
        ValueError: ``path`` holds results of other settings and ``fresh``
            is False (they are never overwritten silently).
    """
    new = dict(settings=settings, runs=[], wall_s=0.0, reference=None)
    if fresh or not osp.isfile(path):
        return new
    with open(path) as f:
        state = json.load(f)
    if not isinstance(state, dict) or state.get('settings') != settings:
        old = state.get('settings') if isinstance(state, dict) else None
        raise ValueError(
            f'{path} holds results of other settings ({old}, now '
            f'{settings}); pass --fresh to start over, or --out-dir for a '
            'new folder')
    return state


def save_state(path: str, state: Dict) -> None:
    atomic_write_bytes(path, json.dumps(state, indent=1).encode())


@contextlib.contextmanager
def workers_on(device: str) -> Iterator[None]:
    """Worker processes started inside see CUDA only if ``device`` is
    ``'cuda'``.

    MMEngine picks its runner's device when a process imports it, before
    any run starts, so a CPU study hides the GPU from the environment its
    workers inherit (this process's own is restored afterwards).
    """
    name, saved = 'CUDA_VISIBLE_DEVICES', os.environ.get(
        'CUDA_VISIBLE_DEVICES')
    if device == 'cpu':
        os.environ[name] = ''
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _pool(jobs: int) -> ProcessPoolExecutor:
    """Fresh worker processes (spawned: no state shared between runs)."""
    options = dict(max_workers=jobs,
                   mp_context=multiprocessing.get_context('spawn'))
    if sys.version_info >= (3, 11):
        options['max_tasks_per_child'] = 1
    return ProcessPoolExecutor(**options)


def run_study(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Run (or resume) the study, save ``results.json`` and the report;
    returns the results of the runs."""
    args = parse_args(argv)
    settings = _settings(args)
    class_names(args.num_classes)  # validates before any work
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'study_quick' if args.quick else 'study')
    doc = args.doc or (None if args.quick else osp.join('docs',
                                                        'study.md'))
    os.makedirs(out_dir, exist_ok=True)
    results_path = args.results or (osp.join(out_dir, 'results.json')
                                    if args.quick else osp.join(
                                        'docs', 'study_results.json'))
    state = load_state(results_path, settings, args.fresh)
    started = time.time()
    data_root = osp.join(out_dir, 'data')
    generate(data_root, num_classes=args.num_classes,
             clips_per_class=settings['clips_per_class'], progress=True)
    finished = {run['name'] for run in state['runs']}
    todo = [run for run in plan(args.quick) if run.name not in finished
            and (args.only is None or run.model in args.only)]
    print(f'study: {len(todo)} runs to train, {len(finished)} kept from '
          f'{results_path}', flush=True)
    with workers_on(args.device), _pool(args.jobs) as pool:
        futures = {
            pool.submit(run_one, run, data_root, args.num_classes,
                        settings['budget_s'],
                        osp.join(out_dir, 'runs', run.name.replace(' ', '_')),
                        settings['frame_size'], args.lr, args.threads,
                        args.device): run
            for run in todo
        }
        for future in as_completed(futures):
            result = future.result()
            state['runs'].append(result)
            state['wall_s'] += time.time() - started
            started = time.time()
            save_state(results_path, state)
            print(f'study: {result["name"]} done ({len(state["runs"])} '
                  f'runs): top-1 {result["top1"]:.1%}, order '
                  f'{result["order"]:.1%} after {result["iters"]} iters',
                  flush=True)
    if not args.quick and state['reference'] is None:
        torch.set_num_threads(args.jobs * args.threads)
        state['reference'] = dict(
            threads=args.jobs * args.threads,
            costs=reference_costs(args.num_classes))
    state['wall_s'] += time.time() - started
    state['date'] = datetime.date.today().isoformat()
    save_state(results_path, state)
    command = 'python -m study' + (' --quick' if args.quick
                                            else '')
    path = write_report(state, out_dir, doc, command=command)
    print(f'study: report written to {path}', flush=True)
    return state['runs']


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The study's command; user errors are one ``error:`` line, status 1."""
    return run_main(run_study, argv)


if __name__ == '__main__':
    sys.exit(main())
