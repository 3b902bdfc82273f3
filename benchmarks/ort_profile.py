"""Where ONNX Runtime's time goes: kernel time per op type.

ONNX Runtime's own profiler (``SessionOptions.enable_profiling``) writes
one event per node and run, after its graph optimisations: the op types
are those it runs (``FusedConv``, ``QLinearConv``, NCHWc ``ReorderInput``
...), not those of the file. :func:`kernel_times` sums them per op type
and run; :func:`format_profile` sets two models side by side, so that a
latency ratio can be split into what the convolutions cost and what the
rest costs.
"""
import json
import os
import tempfile
from collections import defaultdict
from typing import Dict, Sequence

import numpy as np

# The op types of a convolution in ONNX Runtime's optimised graphs.
CONVOLUTIONS = ('Conv', 'FusedConv', 'QLinearConv', 'ConvInteger')


def _runs_and_nodes(events: Sequence[dict]):
    """The ``(start, end)`` of each run and the kernel events."""
    runs = [(event['ts'], event['ts'] + event['dur']) for event in events
            if event.get('cat') == 'Session'
            and event.get('name') == 'model_run']
    nodes = [event for event in events if event.get('cat') == 'Node'
             and event.get('name', '').endswith('_kernel_time')]
    return sorted(runs), nodes


def kernel_times(path: str, inputs: Dict[str, np.ndarray], threads: int,
                 runs: int) -> Dict[str, float]:
    """Kernel time per op type of an ONNX file in ONNX Runtime.

    Args:
        path (str): ONNX file.
        inputs (dict): ``{input name: array}`` fed to every run.
        threads (int): Intra-op threads.
        runs (int): Profiled runs after one warm-up run (not counted).

    Returns:
        dict: ``{op type: seconds per run}`` summed over the nodes of
        that type (kernel time: with several threads, the wall time of
        each node).
    """
    import onnxruntime
    with tempfile.TemporaryDirectory(prefix='ort_profile-') as folder:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, 'profile')
        session = onnxruntime.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
        for _ in range(runs + 1):
            session.run(None, inputs)
        with open(session.end_profiling()) as file:
            events = json.load(file)
    spans, nodes = _runs_and_nodes(events)
    if len(spans) != runs + 1:
        raise RuntimeError(f'{path}: ONNX Runtime profiled {len(spans)} '
                           f'runs, expected {runs + 1}')
    counted_from = spans[1][0]
    totals = defaultdict(float)
    for node in nodes:
        if node['ts'] >= counted_from:
            totals[node['args']['op_name']] += node['dur'] * 1e-6 / runs
    return dict(totals)


def convolution_time(times: Dict[str, float]) -> float:
    """Seconds of the convolutions in :func:`kernel_times`'s result."""
    return sum(times.get(op, 0.0) for op in CONVOLUTIONS)


def format_profile(times: Dict[str, Dict[str, float]], reference: str,
                   top: int = 12) -> str:
    """Markdown: kernel milliseconds per op type, a column per model.

    Args:
        times (dict): ``{model label: kernel_times(...)}``, the
            ``reference`` model among them.
        reference (str): The label whose time divides the others'
            (TSM-R50 in the runtime benchmark).
        top (int): Op types listed by their largest time; the rest are
            summed in one row.

    Returns:
        str: The table, then the rows ``convolutions``, ``everything
        else`` and ``all kernels`` with each model's ratio to
        ``reference``.
    """
    labels = list(times)
    ops = sorted({op for model in times.values() for op in model},
                 key=lambda op: -max(model.get(op, 0.0)
                                     for model in times.values()))
    lines = ['| op type | ' + ' | '.join(labels) + ' |',
             '|---|' + '---|' * len(labels)]

    def row(title, values):
        cells = []
        for label in labels:
            cell = f'{1000 * values[label]:.1f} ms'
            if label != reference and values[reference] > 0:
                cell += f' ({values[label] / values[reference]:.2f}x)'
            cells.append(cell)
        return f'| {title} | ' + ' | '.join(cells) + ' |'

    for op in ops[:top]:
        lines.append(row(op, {label: times[label].get(op, 0.0)
                              for label in labels}))
    if ops[top:]:
        lines.append(row(f'{len(ops) - top} other op types', {
            label: sum(times[label].get(op, 0.0) for op in ops[top:])
            for label in labels
        }))
    conv = {label: convolution_time(times[label]) for label in labels}
    total = {label: sum(times[label].values()) for label in labels}
    lines.append(row('**convolutions**', conv))
    lines.append(row('**everything else**',
                     {label: total[label] - conv[label] for label in labels}))
    lines.append(row('**all kernels**', total))
    return '\n'.join(lines)
