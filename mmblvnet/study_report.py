"""Tables, plots and answers of the temporal study (see :mod:`.study`).

Every number in the report is computed from the study's results; the
answers to the paper's four questions are derived from them, including
where the numbers disagree with the paper.
"""
import datetime
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np


def _rows(results: List[Dict], **match) -> List[Dict]:
    return [r for r in results
            if all(r.get(k) == v for k, v in match.items())]


def _mean(results: List[Dict], key: str, **match) -> Optional[float]:
    values = [r[key] for r in _rows(results, **match)]
    return float(np.mean(values)) if values else None


def _fmt(value: Optional[float], spec: str = '.1%') -> str:
    return '-' if value is None else format(value, spec)


def results_table(results: List[Dict]) -> str:
    """One markdown row per model, T and setting (seeds averaged)."""
    lines = [
        '| model | T | setting | runs | top-1 | worst pair order | iters | '
        'GFLOPs | params (M) | train peak mem (MB) | latency b1 (ms) |',
        '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    keys = sorted({(r['model'], r['num_segments'], r['setting'])
                   for r in results},
                  key=lambda k: (k[2], k[1], list(_order(results)).index(
                      k[0])))
    for model, t, setting in keys:
        rows = _rows(results, model=model, num_segments=t, setting=setting)
        top1 = np.array([r['top1'] for r in rows])
        spread = f' ± {top1.std():.1%}' if len(rows) > 1 else ''
        worst = np.mean([min(r['pairs']) for r in rows])
        first = rows[0]
        lines.append(
            f'| {model} | {t} | {setting} | {len(rows)} | '
            f'{top1.mean():.1%}{spread} | {worst:.1%} | '
            f'{int(np.mean([r["iters"] for r in rows]))} | '
            f'{first["gflops"]:.2f} | {first["params_m"]:.1f} | '
            f'{first["train_memory_mb"]:.0f} | {first["latency_ms"]:.0f} |')
    return '\n'.join(lines)


def _order(results: List[Dict]) -> Dict[str, None]:
    return dict.fromkeys(r['model'] for r in results)


def plot(results: List[Dict], out_dir: str) -> List[str]:
    """Accuracy vs GFLOPs (bubble = training memory) and vs frames."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    standard = _rows(results, setting='standard', seed=0)
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    memory = np.array([r['train_memory_mb'] for r in standard])
    for r, size in zip(standard, 600 * memory / memory.max()):
        ax.scatter(r['gflops'], r['top1'], s=size, alpha=0.5)
        ax.annotate(f'{r["model"]} T{r["num_segments"]}',
                    (r['gflops'], r['top1']), fontsize=7,
                    textcoords='offset points', xytext=(4, 4))
    size = standard[0]['frame_size']
    ax.set_xlabel(f'GFLOPs per clip ({size}x{size} frames)')
    ax.set_ylabel('held-out top-1')
    ax.set_title('Accuracy vs cost (bubble area = training peak memory)')
    ax.grid(alpha=0.3)
    paths.append(osp.join(out_dir, 'study_accuracy_vs_gflops.png'))
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in _order(standard):
        rows = sorted(_rows(standard, model=model),
                      key=lambda r: r['num_segments'])
        ax.plot([r['num_segments'] for r in rows],
                [r['top1'] for r in rows], marker='o', label=model)
    ax.set_xlabel('frames T')
    ax.set_ylabel('held-out top-1')
    ax.set_xticks(sorted({r['num_segments'] for r in standard}))
    ax.set_title('Accuracy vs frames (equal CPU budget per run)')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    paths.append(osp.join(out_dir, 'study_accuracy_vs_frames.png'))
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
             test_clips: int) -> str:
    """``texts``: what to say when the first model wins, and loses."""
    if order is None:
        return 'Not measured in this run.'
    if order == 0:
        return (f'The difference is within noise (two standard errors on '
                f'{test_clips} test clips), so this run neither confirms '
                'nor refutes the paper.')
    return texts[0] if order > 0 else texts[1]


def answers(results: List[Dict]) -> List[str]:
    """Short answers to the paper's four questions, from the numbers."""
    tam, tsn, tsm = 'bLVNet-TAM-50 k3', 'TSN-R50', 'TSM-R50'
    clips = min((r['test_clips'] for r in results), default=0)
    out = []
    std = dict(setting='standard', num_segments=8)
    flops = {m: _mean(results, 'gflops', model=m, **std)
             for m in (tam, tsn, tsm)}
    memory = {m: _mean(results, 'train_memory_mb', model=m, **std)
              for m in (tam, tsn, tsm)}
    cheaper = None if None in flops.values() else flops[tam] < min(
        flops[tsn], flops[tsm])
    out.append(
        f'1. **Cost.** At T=8, bLVNet-TAM-50 needs '
        f'{_ratio(flops[tam], flops[tsm])} the GFLOPs of TSM-R50 and '
        f'{_ratio(memory[tam], memory[tsn])} the training memory of '
        f'TSN-R50 ({_ratio(memory[tam], memory[tsm])} of TSM-R50) at '
        f'these small frames, where weights and optimizer state weigh most '
        f'(at 224x224 see docs/benchmarks.md). ' +
        ('Not measured in this run.' if cheaper is None else
         'This agrees with the paper.' if cheaper else
         'This disagrees with the paper.'))
    top = {m: _mean(results, 'top1', model=m, **std)
           for m in (tam, tsn, tsm, 'bLVNet-50')}
    pair = {m: _mean([dict(r, worst=min(r['pairs'])) for r in results],
                     'worst', model=m, **std) for m in top}
    order = {m: _mean([dict(r, order=float(np.mean(r['pairs'])))
                       for r in results], 'order', model=m, **std)
             for m in top}
    learned = [m for m in top if compare(order[m], 0.5, clips) == 1]
    out.append(
        '**Did the models learn frame order?** Mean order accuracy over '
        'the reversed pairs at T=8 (50% is blind to order): ' + ', '.join(
            f'{m} {_fmt(order[m])}' for m in top) + '. ' +
        (f'Above 50% beyond noise: {", ".join(learned)}.' if learned else
         'None is above 50% beyond noise: within this budget no model '
         'learned frame order, so differences in top-1 come from telling '
         'the pairs apart, not from temporal modelling; questions 2 and 4 '
         'need a larger `--budget`.'))
    out.append(
        f'2. **Temporal dependencies.** On classes that differ only in '
        f'frame order, per-frame TSN reaches {_fmt(top[tsn])} top-1 (order '
        f'accuracy {_fmt(order[tsn])}, worst pair {_fmt(pair[tsn])}), '
        f'bLVNet-50 without TAM (only the local fusion of a big-little '
        f'frame pair) {_fmt(top["bLVNet-50"])} (order '
        f'{_fmt(order["bLVNet-50"])}), and with TAM {_fmt(top[tam])} '
        f'(order {_fmt(order[tam])}, worst pair {_fmt(pair[tam])}). ' +
        _verdict(
            compare(order[tam], order['bLVNet-50'], clips),
            ('TAM adds order information that local fusion cannot, as the '
             'paper says.',
             'Here TAM told order worse than local fusion alone, unlike '
             'the paper.'), clips))
    t16 = _mean(results, 'top1', model=tam, setting='standard',
                num_segments=16)
    f16 = _mean(results, 'gflops', model=tam, setting='standard',
                num_segments=16)
    tsm16 = _mean(results, 'gflops', model=tsm, setting='standard',
                  num_segments=16)
    out.append(
        f'3. **More frames.** bLVNet-TAM-50 goes from {_fmt(top[tam])} at '
        f'T=8 to {_fmt(t16)} at T=16 for {_ratio(f16, flops[tam])} the '
        f'GFLOPs; at T=16 it costs {_ratio(f16, tsm16)} of TSM-R50 at '
        f'T=16. ' + _verdict(
            compare(t16, top[tam], clips),
            ('More frames helped, as in the paper.',
             'Under an equal time budget more frames hurt here (each run '
             'sees half as many clips), unlike the paper.'), clips))
    spread = {m: np.std([r['top1'] for r in _rows(
        results, model=m, **std)]) for m in (tam, tsm)}
    hard = {m: _mean(results, 'top1', model=m, setting='hard')
            for m in (tam, tsm)}
    out.append(
        f'4. **TAM vs temporal shift.** At T=8 (mean ± spread over seeds) '
        f'bLVNet-TAM-50 reaches {_fmt(top[tam])} ± {spread[tam]:.1%} and '
        f'TSM-R50 {_fmt(top[tsm])} ± {spread[tsm]:.1%}. ' + _verdict(
            compare(top[tam], top[tsm], clips),
            ('TAM beats TSM, as the paper claims.',
             'TSM did better here, unlike the paper.'), clips) +
        f' On the hard setting (32-frame videos, distractors): '
        f'{_fmt(hard[tam])} vs {_fmt(hard[tsm])}. ' + _verdict(
            compare(hard[tam], hard[tsm], clips),
            ('TAM beats TSM there too.', 'TSM did better there.'), clips))
    return out


def write_report(results: List[Dict], out_dir: str, doc: Optional[str],
                 command: str, budget_s: float, minutes: float) -> str:
    """Write the report (and plots) to ``doc`` or ``out_dir/study.md``."""
    doc = doc or osp.join(out_dir, 'study.md')
    doc_dir = osp.dirname(doc) or '.'
    os.makedirs(doc_dir, exist_ok=True)
    plots = plot(results, doc_dir)
    date = datetime.date.today().isoformat()
    size, lr = results[0]['frame_size'], results[0]['lr']
    text = '\n'.join([
        '# Temporal study: bLVNet-TAM vs TSN and TSM on order-only classes',
        '',
        f'Generated by `{command}` on {date} ({minutes:.0f} min, 2 CPU '
        f'threads, {budget_s:.0f} s of training per run); nothing here '
        'is typed by hand. Data: `mmblvnet.datasets.synthetic` (classes '
        'come in time-reversed pairs; a model blind to frame order is at '
        '50% on each pair). Recipe for every model: from scratch, AdamW '
        f'lr {lr:g}, cosine decay, batch 8, frames resized to {size}x{size}'
        '; each run trains as many iterations as fit the same CPU-time '
        'budget. "worst pair order" is the order accuracy of the hardest '
        'reversed pair: how often a clip scores higher for its own class '
        'than for its time reversal (50% = blind to frame order); GFLOPs '
        f'and latency are per clip of T frames at {size}x'
        f'{size}; training memory is the peak of one SGD step on 8 clips '
        '(`mmblvnet.utils.profiling`, as `tools/analysis/benchmark.py`).',
        '',
        results_table(results),
        '',
        *[f'![{osp.basename(p)}]({osp.basename(p)})' for p in plots],
        '',
        '## The paper\'s four questions',
        '',
        '\n\n'.join(answers(results)),
        ''
    ])
    with open(doc, 'w') as f:
        f.write(text)
    return doc
