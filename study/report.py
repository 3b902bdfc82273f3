"""Tables, plots and answers of the temporal study (see :mod:`.experiment`).

Every number in the report is computed from the study's saved state
(``results.json``); the answers to the paper's four questions are derived
from them, including where the numbers disagree with the paper.
"""
import datetime
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmblvnet.datasets.synthetic import class_names

from .experiment import CAUSAL, DECAY_FRACTION

TAM, TSN, TSM, BLV = ('bLVNet-TAM-50 k3', 'TSN-R50', 'TSM-R50',
                      'bLVNet-50')
TARGET = 0.9  # the accuracy whose time the report gives ("s to 90%")


def _rows(runs: List[Dict], **match) -> List[Dict]:
    return [r for r in runs if all(r.get(k) == v for k, v in match.items())]


def _mean(runs: List[Dict], key: str, **match) -> Optional[float]:
    values = [r[key] for r in _rows(runs, **match)]
    return float(np.mean(values)) if values else None


def _fmt(value: Optional[float], spec: str = '.1%') -> str:
    return '-' if value is None else format(value, spec)


def _order(runs: List[Dict]) -> List[Tuple[str, int]]:
    """(model, T) keys in plan order."""
    return list(dict.fromkeys((r['model'], r['num_segments']) for r in runs))


def seconds_to(curve: List[Dict], target: float = TARGET,
               key: str = 'seconds') -> Optional[float]:
    """Training seconds (or another ``key`` such as ``'iter'``) of the
    first curve point at ``target`` top-1 or above; None if the run never
    got there."""
    return next((p[key] for p in curve if p['top1'] >= target), None)


def _time_to_target(rows: List[Dict], key: str = 'seconds') -> str:
    if not rows:
        return '-'
    times = [seconds_to(r['curve'], key=key) for r in rows]
    reached = [t for t in times if t is not None]
    if not reached:
        return 'not reached'
    text = f'{np.mean(reached):.0f}'
    return text if len(reached) == len(rows) else (
        f'{text} ({len(reached)}/{len(rows)} runs)')


def results_table(runs: List[Dict]) -> str:
    """One markdown row per model and T (seeds averaged, ± spread)."""
    lines = [
        '| model | T | runs | top-1 | order acc. | worst pair | '
        f's to {TARGET:.0%} | iters | clips seen | GFLOPs | params (M) | '
        'train peak mem (MB) | latency b1 (ms) |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for model, t in _order(runs):
        rows = _rows(runs, model=model, num_segments=t)
        top1 = np.array([r['top1'] for r in rows])
        spread = f' ± {top1.std():.1%}' if len(rows) > 1 else ''
        first = rows[0]
        lines.append(
            f'| {model} | {t} | {len(rows)} | {top1.mean():.1%}{spread} | '
            f'{np.mean([r["order"] for r in rows]):.1%} | '
            f'{np.mean([min(r["pairs"]) for r in rows]):.1%} | '
            f'{_time_to_target(rows)} | '
            f'{np.mean([r["iters"] for r in rows]):.0f} | '
            f'{np.mean([r["clips_seen"] for r in rows]):.0f} | '
            f'{first["gflops"]:.2f} | {first["params_m"]:.1f} | '
            f'{first["train_memory_mb"]:.0f} | {first["latency_ms"]:.0f} |')
    return '\n'.join(lines)


def reference_table(reference: Optional[Dict]) -> str:
    """Cost of the three main models at 224x224 (markdown)."""
    if not reference:
        return 'Cost at 224x224: not measured in this run.'
    costs = reference['costs']
    lines = [
        '| model (T=8, 224x224) | GFLOPs | params (M) | train peak mem, 2 '
        f'clips (MB) | latency b1, {reference["threads"]} threads (ms) |',
        '|---|---|---|---|---|'
    ]
    for model, cost in costs.items():
        lines.append(
            f'| {model} | {cost["gflops"]:.1f} | {cost["params_m"]:.1f} | '
            f'{cost["train_memory_mb"]:.0f} | {cost["latency_ms"]:.0f} |')
    return '\n'.join(lines)


def plot(runs: List[Dict], out_dir: str, seconds_label: str) -> List[str]:
    """Learning curves (held-out top-1 vs training seconds, one colour per
    model and T, one line per seed) and accuracy vs GFLOPs."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap('tab10')
    for i, (model, t) in enumerate(_order(runs)):
        for j, r in enumerate(_rows(runs, model=model, num_segments=t)):
            ax.plot([0] + [p['seconds'] for p in r['curve']],
                    [1 / len(r['per_class'])] +
                    [p['top1'] for p in r['curve']],
                    color=colours(i % 10), marker='o', markersize=3,
                    linestyle='-' if t == 8 else '--', alpha=0.8,
                    label=f'{model} T{t}' if j == 0 else None)
    ax.axhline(TARGET, color='grey', linewidth=0.8, linestyle=':')
    ax.set_xlabel(seconds_label)
    ax.set_ylabel('held-out top-1')
    ax.set_ylim(0, 1.02)
    ax.set_title('Learning curves (equal budget per run)')
    ax.legend(fontsize=7, loc='lower right')
    ax.grid(alpha=0.3)
    paths.append(osp.join(out_dir, 'study_learning_curves.png'))
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    seed0 = _rows(runs, seed=0)
    memory = np.array([r['train_memory_mb'] for r in seed0])
    for r, size in zip(seed0, 600 * memory / memory.max()):
        ax.scatter(r['gflops'], r['top1'], s=size, alpha=0.5)
        ax.annotate(f'{r["model"]} T{r["num_segments"]}',
                    (r['gflops'], r['top1']), fontsize=7,
                    textcoords='offset points', xytext=(4, 4))
    size = seed0[0]['frame_size']
    ax.set_xlabel(f'GFLOPs per clip ({size}x{size} frames)')
    ax.set_ylabel('held-out top-1')
    ax.set_title('Accuracy vs cost (bubble area = training peak memory)')
    ax.grid(alpha=0.3)
    paths.append(osp.join(out_dir, 'study_accuracy_vs_gflops.png'))
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return '-' if a is None or not b else f'{a / b:.2f}x'


def compare(a: Optional[float], b: Optional[float],
            test_clips: int) -> Optional[int]:
    """Whether accuracy ``a`` is above (1), below (-1) or within noise (0)
    of ``b``; None when either was not measured.

    Noise is two standard errors of the difference of two accuracies, each
    measured on ``test_clips`` clips.
    """
    if a is None or b is None:
        return None
    p = (a + b) / 2
    noise = 2 * math.sqrt(2 * p * (1 - p) / max(test_clips, 1))
    return 0 if abs(a - b) <= noise else (1 if a > b else -1)


def _verdict(order: Optional[int], texts: Tuple[str, str],
             test_clips: int,
             noise: str = 'so this run neither confirms nor refutes the '
             'paper') -> str:
    """``texts``: what to say when the first model wins, and loses;
    ``noise``: what a difference within noise means."""
    if order is None:
        return 'Not measured in this run.'
    if order == 0:
        return (f'The difference is within noise (two standard errors on '
                f'{test_clips} test clips), {noise}.')
    return texts[0] if order > 0 else texts[1]


def headline(runs: List[Dict]) -> str:
    """Whether the study separates a temporal model from an order-blind
    one: bLVNet-TAM-50 k3 >= 90% and TSN-R50 <= 55% at T=8."""
    tam = _mean(runs, 'top1', model=TAM, num_segments=8)
    tsn = _mean(runs, 'top1', model=TSN, num_segments=8)
    if tam is None or tsn is None:
        return ('**Separation of temporal and order-blind models:** not '
                'measured (bLVNet-TAM-50 k3 or TSN-R50 at T=8 missing).')
    ok = tam >= 0.9 and tsn <= 0.55
    return (
        f'**Separation of temporal and order-blind models:** '
        f'bLVNet-TAM-50 k3 reaches {tam:.1%} held-out top-1 at T=8 '
        f'(runs: {len(_rows(runs, model=TAM, num_segments=8))}; '
        f'target >= 90%), the order-blind TSN-R50 {tsn:.1%} (target <= '
        f'55%; its ceiling is 50% plus noise). ' +
        ('The study separates them.' if ok else
         'The study does NOT reach both targets with this budget.'))


def answers(runs: List[Dict], reference: Optional[Dict]) -> List[str]:
    """Short answers to the paper's four questions, from the numbers."""
    clips = min((r['test_clips'] for r in runs), default=0)
    t8 = dict(num_segments=8)
    out = []
    models = [m for m in (TSN, TSM, BLV, TAM) if _rows(runs, model=m)]
    order = {m: _mean(runs, 'order', model=m, **t8) for m in models}
    top = {m: _mean(runs, 'top1', model=m, **t8) for m in models}
    learned = [m for m in models if compare(order[m], 0.5, clips) == 1]
    out.append(
        '**Did the models learn frame order?** Mean order accuracy over '
        'the reversed pairs at T=8 (50% is blind to order): ' + ', '.join(
            f'{m} {_fmt(order[m])}' for m in models) + '. ' +
        (f'Above 50% beyond noise: {", ".join(learned)}.' if learned else
         'None is above 50% beyond noise: within this budget no model '
         'learned frame order, so differences in top-1 come from telling '
         'the pairs apart, not from temporal modelling; questions 2 to 4 '
         'need a larger `--budget`.'))
    out.append(_cost_answer(runs, reference, clips))
    out.append(
        f'2. **Temporal dependencies.** On classes that differ only in '
        f'frame order, per-frame TSN-R50 reaches {_fmt(top.get(TSN))} '
        f'top-1 (order accuracy {_fmt(order.get(TSN))}), bLVNet-50 without '
        f'TAM (only the local fusion of a big-little frame pair) '
        f'{_fmt(top.get(BLV))} (order {_fmt(order.get(BLV))}), and with '
        f'TAM {_fmt(top.get(TAM))} (order {_fmt(order.get(TAM))}). ' +
        _verdict(
            compare(order.get(TAM), order.get(BLV), clips),
            ('TAM adds order information that local fusion cannot, as the '
             'paper says.',
             'Here TAM told order worse than local fusion alone, unlike '
             'the paper.'), clips))
    t16 = _mean(runs, 'top1', model=TAM, num_segments=16)
    f8 = _mean(runs, 'gflops', model=TAM, **t8)
    f16 = _mean(runs, 'gflops', model=TAM, num_segments=16)
    out.append(
        f'3. **More frames.** bLVNet-TAM-50 goes from {_fmt(top.get(TAM))} '
        f'at T=8 to {_fmt(t16)} at T=16 for {_ratio(f16, f8)} the GFLOPs '
        'per clip (so, under an equal budget, half the clips). ' + _verdict(
            compare(t16, top.get(TAM), clips),
            ('More frames helped, as in the paper.',
             'Under an equal budget more frames hurt here, unlike the paper '
             '(which trains every model to convergence).'), clips))
    out.append(_tam_vs_tsm(runs, clips))
    return out


def _cost_answer(runs: List[Dict], reference: Optional[Dict],
                 clips: int) -> str:
    t8 = dict(num_segments=8)
    text = '1. **Cost.** '
    if reference:
        cost = reference['costs']

        def ratio(key, model):
            return _ratio(cost[TAM][key], cost[model][key])

        text += (
            'At 224x224 and T=8 (as `python -m benchmarks.model` '
            'measures), bLVNet-TAM-50 needs '
            f'{ratio("gflops", TSM)} the GFLOPs of TSM-R50, '
            f'{ratio("train_memory_mb", TSN)} the training memory of '
            f'TSN-R50 ({ratio("train_memory_mb", TSM)} of TSM-R50) and '
            f'{ratio("latency_ms", TSM)} its CPU latency. ' +
            ('This agrees with the paper (about a third of the FLOPs). '
             if cost[TAM]['gflops'] < 0.5 * cost[TSM]['gflops'] else
             'This disagrees with the paper. '))
    else:
        text += 'Cost at 224x224 was not measured in this run. '
    tam, tsm = (_mean(runs, 'top1', model=m, **t8) for m in (TAM, TSM))
    return text + (
        f'For the same training budget bLVNet-TAM-50 reaches '
        f'{_fmt(tam)} top-1 and TSM-R50 {_fmt(tsm)}. ' + _verdict(
            compare(tam, tsm, clips),
            ('The cheaper model is also the more accurate one here.',
             'Here the cheaper model is less accurate for the same '
             'budget.'), clips))


def _spread(rows: List[Dict]) -> Optional[float]:
    """Standard deviation of top-1 over seeds; None without runs."""
    return float(np.std([r['top1'] for r in rows])) if rows else None


def _tam_vs_tsm(runs: List[Dict], clips: int) -> str:
    t8 = dict(num_segments=8)
    spread = {m: _spread(_rows(runs, model=m, **t8)) for m in (TAM, TSM)}
    top = {m: _mean(runs, 'top1', model=m, **t8) for m in (TAM, TSM)}
    variants = [m for m in ('bLVNet-TAM-50 k1', 'bLVNet-TAM-50 k5',
                            'bLVNet-TAM-50 k3 max') if _rows(runs, model=m)]
    time_to = {m: _time_to_target(_rows(runs, model=m, **t8))
               for m in (TAM, TSM)}
    text = (
        f'4. **TAM vs temporal shift.** At T=8 (mean ± spread over seeds) '
        f'bLVNet-TAM-50 reaches {_fmt(top[TAM])} ± {_fmt(spread[TAM])} '
        f'and TSM-R50 {_fmt(top[TSM])} ± {_fmt(spread[TSM])}; training '
        'seconds '
        f'to {TARGET:.0%}: {time_to[TAM]} vs {time_to[TSM]}. ' + _verdict(
            compare(top[TAM], top[TSM], clips),
            ('TAM beats TSM, as the paper claims.',
             'TSM did better here, unlike the paper.'), clips))
    if variants:
        text += ' Other TAM settings at T=8: ' + ', '.join(
            f'{m[len("bLVNet-TAM-50 "):]} '
            f'{_fmt(_mean(runs, "top1", model=m, **t8))}'
            for m in variants) + f' (k3: {_fmt(top[TAM])}).'
    return text


def _seconds_ratio(a: List[Dict], b: List[Dict]) -> str:
    """Mean seconds to :data:`TARGET` of runs ``a`` over those of ``b``,
    when every run of both got there."""
    times = [[seconds_to(r['curve']) for r in rows] for rows in (a, b)]
    if None in times[0] + times[1]:
        return ''
    return f' ({_ratio(np.mean(times[0]), np.mean(times[1]))})'


def _equal_iterations(rows: List[Dict], offline: List[Dict]) -> str:
    """The causal ``rows`` against the ``offline`` k3 runs at equal
    iterations (learning-curve point nearest offline's iteration count,
    iterations to :data:`TARGET`), when the causal runs trained other
    iteration counts for the same cost."""
    iters, reference = _mean(offline, 'iters'), _mean(offline, 'top1')
    points = [min(r['curve'], key=lambda p: abs(p['iter'] - iters))
              for r in rows]
    top1 = float(np.mean([p['top1'] for p in points]))
    at = float(np.mean([p['iter'] for p in points]))
    decayed = any(p['iter'] > r['iters'] * (1 - DECAY_FRACTION)
                  for p, r in zip(points, rows))
    clips = min(r['curve_clips_per_class'] * len(r['per_class'])
                for r in rows)
    return (
        f' The causal runs trained {_ratio(_mean(rows, "iters"), iters)} '
        'the iterations of offline k3 for the same GFLOPs per clip (a '
        'budget of CPU seconds buys other iteration counts on another '
        'machine or under other load), so equal CPU seconds were not equal '
        'training here. At equal iterations, from the learning curves: '
        f'iterations to {TARGET:.0%} {_time_to_target(rows, "iter")} vs '
        f'{_time_to_target(offline, "iter")}; at {at:.0f} iterations ('
        + ('learning rate decaying' if decayed else 'constant learning rate')
        + f', {clips} held-out clips) the causal TAM has {_fmt(top1)} '
        f'top-1, {100 * (top1 - reference):+.1f} points against offline '
        f'k3\'s final {_fmt(reference)} at {iters:.0f}. ' + _verdict(
            compare(top1, reference, clips),
            ('At equal iterations the causal TAM is the more accurate one.',
             'At equal iterations causality costs top-1.'), clips,
            noise='so no cost of causality is measurable at equal '
            'iterations'))


def causal_cost(runs: List[Dict]) -> str:
    """The cost of causality: causal k3 TAM (each frame blends itself
    and the two before it, as online recognition needs) against offline
    k3 at T=8, from the numbers.

    Runs of equal GFLOPs whose iteration counts differ by more than 20%
    (their budgets were spent on other machines or under other load) are
    also compared at equal iterations, on the causal learning curves.
    """
    t8 = dict(num_segments=8)
    rows = {m: _rows(runs, model=m, **t8) for m in (CAUSAL, TAM)}
    if not all(rows.values()):
        return ('**Cost of causality:** not measured (bLVNet-TAM-50 k3 '
                'or its causal variant at T=8 missing).')
    clips = min(r['test_clips'] for r in rows[CAUSAL] + rows[TAM])
    top = {m: _mean(runs, 'top1', model=m, **t8) for m in rows}
    order = {m: _mean(runs, 'order', model=m, **t8) for m in rows}
    iters = {m: _mean(runs, 'iters', model=m, **t8) for m in rows}
    text = (
        f'**Cost of causality.** At T=8 (mean ± spread over seeds) the '
        f'causal k3 TAM reaches {_fmt(top[CAUSAL])} ± '
        f'{_fmt(_spread(rows[CAUSAL]))} top-1 ({len(rows[CAUSAL])} runs) '
        f'and offline k3 {_fmt(top[TAM])} ± {_fmt(_spread(rows[TAM]))} '
        f'({len(rows[TAM])} runs): causal minus offline '
        f'{100 * (top[CAUSAL] - top[TAM]):+.1f} points of top-1 and '
        f'{100 * (order[CAUSAL] - order[TAM]):+.1f} of order accuracy '
        f'({_fmt(order[CAUSAL])} vs {_fmt(order[TAM])}); training seconds '
        f'to {TARGET:.0%}: {_time_to_target(rows[CAUSAL])} vs '
        f'{_time_to_target(rows[TAM])}'
        f'{_seconds_ratio(rows[CAUSAL], rows[TAM])}, in '
        f'{iters[CAUSAL]:.0f} vs {iters[TAM]:.0f} iterations. ' + _verdict(
            compare(top[CAUSAL], top[TAM], clips),
            ('The causal TAM is the more accurate one here.',
             'Causality costs top-1 under this budget.'), clips,
            noise='so causality costs nothing measurable in top-1 under '
            'this budget'))
    same_cost = rows[CAUSAL][0]['gflops'] == rows[TAM][0]['gflops']
    if same_cost and abs(iters[CAUSAL] / iters[TAM] - 1) > 0.2:
        text += _equal_iterations(rows[CAUSAL], rows[TAM])
    return text


def write_report(state: Dict, out_dir: str, doc: Optional[str],
                 command: str) -> str:
    """Write the report (and plots) of a saved study state to ``doc`` or
    ``out_dir/study.md``; returns its path."""
    runs, settings = state['runs'], state['settings']
    doc = doc or osp.join(out_dir, 'study.md')
    doc_dir = osp.dirname(doc) or '.'
    os.makedirs(doc_dir, exist_ok=True)
    unit = ('process CPU seconds' if settings['device'] == 'cpu' else
            'GPU wall seconds')
    plots = plot(runs, doc_dir, f'training {unit}')
    size, lr = settings['frame_size'], runs[0]['lr']
    date = state.get('date') or datetime.date.today().isoformat()
    text = '\n'.join([
        '# Temporal study: bLVNet-TAM vs TSN and TSM on order-only classes',
        '',
        f'Generated by `{command}` on {date}: {len(runs)} runs in '
        f'{state["wall_s"] / 60:.0f} min of wall time, '
        f'{settings["budget_s"]:.0f} {unit} of training per run, '
        f'{settings["threads"]} torch thread(s) per run; nothing here is '
        'typed by hand. Data: `mmblvnet.datasets.synthetic`, '
        f'{settings["num_classes"]} classes '
        f'({", ".join(class_names(settings["num_classes"]))}) x '
        f'{settings["clips_per_class"]} clips (80% train, 20% held out); '
        'classes come in time-reversed pairs, so a model blind to frame '
        'order is at 50% on each pair. Recipe for every model: from '
        f'scratch, AdamW lr {lr:g}, short warm-up, constant rate, cosine '
        f'decay over the last {settings["decay_fraction"]:.0%} of the '
        'iterations, batch '
        f'8, frames resized to {size}x{size}; each run trains as many '
        'iterations as fit the same budget (a cheaper model sees more '
        'clips) and evaluates held-out top-1 along the way (the learning '
        'curve; its inner points use '
        f'{runs[0]["curve_clips_per_class"]} clips per class, the last one '
        'the whole held-out split). "order '
        'acc." is how often a clip scores higher for its own class than '
        'for its time reversal (50% = blind to frame order), averaged over '
        'the reversed pairs; "worst pair" is the hardest pair\'s. GFLOPs '
        f'and latency are per clip of T frames at {size}x{size}; training '
        'memory is the peak of one step on 8 clips '
        '(`benchmarks.profiling`, as `python -m benchmarks.model`).',
        '',
        headline(runs),
        '',
        results_table(runs),
        '',
        *[f'![{osp.basename(p)}]({osp.basename(p)})' for p in plots],
        '',
        '## Cost at the paper\'s frame size',
        '',
        reference_table(state.get('reference')),
        '',
        '## The paper\'s four questions',
        '',
        '\n\n'.join(answers(runs, state.get('reference'))),
        '',
        '## Causal TAM',
        '',
        causal_cost(runs),
        ''
    ])
    with open(doc, 'w') as f:
        f.write(text)
    return doc
