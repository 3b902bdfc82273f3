"""python -m benchmarks.model: the model benchmark's table, memory probe
and options."""
import sys

import pytest
import torch

from benchmarks import model as benchmark
from benchmarks.runs import probe_in_subprocess


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA present')
def test_cuda_request_without_cuda_is_one_error_line(capsys):
    assert benchmark.main(['--device', 'cuda', '--quick']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: --device cuda needs a CUDA GPU')
    assert err.rstrip().endswith('run with --device cpu')
    assert len(err.splitlines()) == 1 and 'Traceback' not in err


def test_quick_benchmark_on_tiny_clips_writes_the_full_table(
        tmp_path, capsys):
    out = tmp_path / 'bench.md'
    assert benchmark.main([
        '--quick', '--frames', '4', '--size', '32', '--batch-sizes', '1', '2',
        '--no-os-memory', '--out', str(out)
    ]) == 0
    report = out.read_text()
    assert capsys.readouterr().out == report + '\n'
    lines = report.splitlines()
    header = next(line for line in lines if line.startswith('| Model'))
    for title in ('GFLOPs', 'Params', 'CPU b1', 'CPU b2', 'Train step',
                  'Train peak'):
        assert title in header
    # The main table: from its header to the first blank line (the op
    # counts table below it has rows of its own).
    start = lines.index(header)
    end = lines.index('', start)
    rows = [line for line in lines[start + 2:end]]
    assert [row.split(' | ')[0] for row in rows] == [
        '| bLVNet-TAM-50 2x2', '| TSM-R50 4f', '| TSN-R50 4f']
    assert all(row.count('|') == header.count('|') for row in rows)
    assert '(1.000x)' in rows[1] and '(1.000x, ' in rows[1]
    assert 'TAM share of bLVNet backbone inference time: b1 ' in report
    assert 'OS peak' not in header
    assert '| ATen ops per backbone forward | b1 | b2 |' in report


def test_os_memory_probe_runs_one_model_in_a_subprocess():
    args = benchmark.parse_args(
        ['--quick', '--frames', '4', '--size', '32', '--channels-last'])
    probe = probe_in_subprocess(
        [sys.executable, '-m', 'benchmarks.model', *args.argv],
                                'blvnet')
    assert probe['os_peak_bytes'] > 0 and probe['step_s'] > 0
    # on CPU: the step's process CPU time, user plus kernel (page faults)
    assert probe['cpu_s'] == pytest.approx(probe['user_s'] + probe['sys_s'])
    assert probe['user_s'] > 0 and probe['sys_s'] >= 0


@pytest.mark.parametrize('argv, message', [
    (['--amp'], '--amp needs --device cuda'),
    (['--largest-batch'], '--largest-batch needs --device cuda'),
])
def test_gpu_only_options_fail_clearly_on_cpu(argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert message in capsys.readouterr().err


def test_gpu_targets_preset_sets_the_target_conditions():
    args = benchmark.parse_args(['--gpu-targets'])
    assert (args.device, args.amp, args.channels_last, args.train_batch,
            args.largest_batch) == ('cuda', True, True, 8, True)
    assert (args.frames, args.size, args.batch_sizes) == (16, 224, [1, 8])

