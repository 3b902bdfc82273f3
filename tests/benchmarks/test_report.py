"""benchmarks.report: the benchmark's Markdown."""
import argparse

import torch

from benchmarks.report import (
    format_op_counts,
    format_report,
    format_table,
    table_columns,
)


def _args(**changes) -> argparse.Namespace:
    args = dict(batch_sizes=[1, 8], train_batch=2, no_os_memory=False,
                frames=16, size=224, num_classes=174, repeats=5, warmup=1,
                threads=2, amp=False, channels_last=False,
                compile=False, gpu_targets=False)
    args.update(changes)
    return argparse.Namespace(**args)


def test_cpu_columns_and_the_os_memory_column_with_two_references():
    columns = table_columns(_args(frames=4), torch.device('cpu'))
    assert [c[0] for c in columns] == [
        'GFLOPs', 'Params (M)', 'CPU b1 (ms)', 'CPU b8 (ms)',
        'Train step b2 (ms)', 'Train peak b2 (MiB)',
        'OS peak b2, RSS rise (MiB)']
    assert columns[-1][3] == ('tsm', 'tsn')
    no_os = table_columns(_args(no_os_memory=True), torch.device('cpu'))
    assert no_os == columns[:-1]


def test_cuda_adds_throughput_columns_at_the_largest_batch():
    titles = [c[0] for c in table_columns(_args(), torch.device('cuda'))]
    assert titles[4:6] == ['b8 fp32 (clips/s)', 'b8 AMP (clips/s)']
    assert 'Train b2 (clips/s)' in titles
    assert titles[-1] == 'OS peak b2, reserved (MiB)'


def test_table_cells_are_values_with_ratios_to_the_references():
    results = {'blvnet': dict(gflops=8.0, train_peak_mib=600.0),
               'tsm': dict(gflops=32.0, train_peak_mib=1200.0),
               'tsn': dict(gflops=33.0, train_peak_mib=1000.0)}
    columns = [('GFLOPs', 'gflops', '.2f', ('tsm', )),
               ('Peak', 'train_peak_mib', '.0f', ('tsm', 'tsn'))]
    assert format_table(results, columns, 16).splitlines() == [
        '| Model | GFLOPs (x TSM-R50) | Peak (x TSM-R50, x TSN-R50) |',
        '|---|---|---|',
        '| bLVNet-TAM-50 8x2 | 8.00 (0.250x) | 600 (0.500x, 0.600x) |',
        '| TSM-R50 16f | 32.00 (1.000x) | 1200 (1.000x, 1.200x) |',
        '| TSN-R50 16f | 33.00 (1.031x) | 1000 (0.833x, 1.000x) |',
    ]


def test_op_counts_have_ratios_to_tsm():
    counts = {'blvnet': {1: 300, 8: 300}, 'tsm': {1: 200, 8: 400}}
    assert format_op_counts(counts, 4).splitlines() == [
        '| ATen ops per backbone forward | b1 | b8 |', '|---|---|---|',
        '| bLVNet-TAM-50 2x2 | 300 (1.50x) | 300 (0.75x) |',
        '| TSM-R50 4f | 200 (1.00x) | 400 (1.00x) |']


def test_report_says_the_settings_and_adds_targets_only_when_asked():
    metrics = dict(gflops=1.0, params_m=1.0, latency_b1=1.0, train_ms=1.0,
                   train_peak_mib=1.0, train_clips_per_s=1.0, latency_b8=1.0)
    results = {name: metrics for name in ('blvnet', 'tsm', 'tsn')}
    args = _args(batch_sizes=[1], no_os_memory=True, channels_last=True)
    report = format_report(results, {1: 0.1}, args, torch.device('cpu'))
    settings = report.splitlines()[0]
    assert 'CPU, 2 threads; torch ' in settings
    assert settings.endswith("clips of 16 frames at 224x224; 174 classes; "
                             "median of 5 runs after 1 warm-up; "
                             "channels_last")
    assert 'TAM share of bLVNet backbone inference time: b1 10.0%' in report
    assert '| Target |' not in report
    with_targets = format_report(results, {}, _args(
        batch_sizes=[1], no_os_memory=True, gpu_targets=True),
                                 torch.device('cpu'))
    assert 'not measured (TAM calls are not timed under --compile)' in (
        with_targets)
    assert '| Batch-1 latency <= 0.6x TSM-R50 | 1.000x | no |' in (
        with_targets)
