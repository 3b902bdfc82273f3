"""benchmarks.targets: the targets as data and their check."""
import pytest

from benchmarks.report import format_targets
from benchmarks.targets import (
    GPU_TARGETS,
    Target,
    evaluate,
    gpu_target_values,
)

RESULTS = {
    'blvnet': dict(train_clips_per_s=30.0, latency_b8=10.0, latency_b1=3.0),
    'tsm': dict(train_clips_per_s=10.0, latency_b8=30.0, latency_b1=6.0),
}


def test_values_are_ratios_both_ways_and_tam_shares():
    values = gpu_target_values(RESULTS, {1: 0.04})
    assert values['train_clips_per_s blvnet/tsm'] == 3.0
    assert values['latency_b8 tsm/blvnet'] == 3.0
    assert values['latency_b1 blvnet/tsm'] == 0.5
    assert values['tam_share_b1'] == 0.04 and 'tam_share_b8' not in values


def test_every_gpu_target_reads_a_value_the_benchmark_measures():
    values = gpu_target_values(RESULTS, {1: 0.04, 8: 0.07})
    assert all(target.metric in values for target in GPU_TARGETS)
    assert all(target.source for target in GPU_TARGETS)


def test_evaluate_compares_each_way_and_skips_what_was_not_measured():
    targets = (Target('at least 2', 'a', '>=', 2.0, 'test'),
               Target('at most 2', 'a', '<=', 2.0, 'test'),
               Target('not measured', 'b', '<=', 1.0, 'test'))
    assert evaluate(targets, {'a': 2.0}) == [(targets[0], 2.0, True),
                                             (targets[1], 2.0, True)]
    assert [holds for _, _, holds in evaluate(targets, {'a': 3.0})] == [
        True, False]


@pytest.mark.parametrize('field, value, message', [
    ('comparison', '>', 'comparison must be one of'),
    ('unit', 'ms', "unit must be 'x' or '%'"),
])
def test_a_malformed_target_is_refused_naming_it(field, value, message):
    fields = dict(name='T', metric='a', comparison='>=', threshold=1.0,
                  source='test')
    fields[field] = value
    with pytest.raises(ValueError, match=f"target 'T': {message}"):
        Target(**fields)


def test_gpu_targets_table_reads_ratios_against_tsm():
    table = format_targets(RESULTS, {1: 0.04, 8: 0.07},
                           dict(blvnet=48, tsm=16))
    assert table.splitlines() == [
        '| Target | Measured | Holds? |',
        '|---|---|---|',
        '| Training throughput b8 >= 2.0x TSM-R50 | 3.000x | yes |',
        '| Inference b8 >= 2.5x TSM-R50 (clips/s) | 3.000x | yes |',
        '| Batch-1 latency <= 0.6x TSM-R50 | 0.500x | yes |',
        '| TAM <= 5% of GPU time (b1) | 4.0% | yes |',
        '| TAM <= 5% of GPU time (b8) | 7.0% | no |',
        '| Largest training batch, bLVNet-TAM-101 32x2 / TSM-R50 32f '
        '| 48 / 16 clips = 3.00x | (ratio reported) |',
    ]


def test_untimed_tam_share_leaves_out_its_rows():
    table = format_targets(RESULTS, {}, None)
    assert 'TAM' not in table and 'Largest' not in table
    assert len(table.splitlines()) == 2 + 3
