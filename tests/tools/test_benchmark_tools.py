"""tools/analysis/get_flops.py, benchmark.py and profile_train_step.py."""
import sys

import pytest
import torch
from helpers import REPO, load_tool
from mmaction.registry import MODELS
from mmengine.config import Config

from mmblvnet.utils.benchmark.runs import probe_in_subprocess
from mmblvnet.utils.complexity import resolve_input_shape

CONFIG = str(REPO / 'configs' / 'blvnet_tam_r50_8x.py')
TOOL = str(REPO / 'tools' / 'analysis' / 'benchmark.py')


@pytest.fixture(scope='module')
def benchmark():
    return load_tool('tools/analysis/benchmark.py')


def test_get_flops_of_paper_config_matches_the_paper(capsys):
    info = load_tool('tools/analysis/get_flops.py').run(
        [CONFIG, '--shape', '1', '16', '3', '224', '224', '--no-table'])
    # Paper: 24.0 GFLOPs and 25.0M parameters for bLVNet-TAM-50 8x2.
    assert abs(info['flops'] / 1e9 - 24.0) <= 0.02 * 24.0
    assert abs(info['params'] / 1e6 - 25.0) <= 0.02 * 25.0
    assert info['input_shape'] == (1, 16, 3, 224, 224)
    printed = capsys.readouterr().out
    assert 'Flops: 23.9' in printed and 'Params: 25.0' in printed


def test_profile_train_step_times_and_splits_ops_by_shape(capsys):
    """Two clips of the demo's 8 frames at 32x32: the profiled step runs
    the last stage's 3x3 convolutions on 1x1 maps as matrix products."""
    demo = str(REPO / 'configs' / 'demo' /
               'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py')
    result = load_tool('tools/analysis/profile_train_step.py').run(
        [demo, '--shape', '32', '32', '--batch', '2', '--warmup', '1',
         '--steps', '1', '--top', '5'])
    assert len(result['step_s']) == 1 and result['step_s'][0] > 0
    shapes = {(event.key, str(event.input_shapes))
              for event in result['averages']}
    assert not any('convolution' in key and '[8, 512, 1, 1]' in shape
                   and '[512, 512, 3, 3]' in shape for key, shape in shapes)
    assert any(key == 'aten::mm' and '[8, 512]' in shape
               for key, shape in shapes)
    printed = capsys.readouterr().out
    assert 'input (2, 8, 3, 32, 32) (N, T, C, H, W)' in printed
    assert 'ms per training step' in printed


def test_short_shape_means_one_clip_of_num_segments_frames():
    with torch.device('meta'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    assert resolve_input_shape(model, [224, 224]) == (1, 16, 3, 224, 224)
    assert resolve_input_shape(model, [160]) == (1, 16, 3, 160, 160)
    with pytest.raises(ValueError, match='N T C H W'):
        resolve_input_shape(model, [1, 3, 224, 224])


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA present')
def test_cuda_request_without_cuda_is_one_error_line(benchmark, capsys):
    assert benchmark.main(['--device', 'cuda', '--quick']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: --device cuda needs a CUDA GPU')
    assert err.rstrip().endswith('run with --device cpu')
    assert len(err.splitlines()) == 1 and 'Traceback' not in err


def test_quick_benchmark_on_tiny_clips_writes_the_full_table(
        benchmark, tmp_path, capsys):
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
    assert "impl='auto'" in report and 'OS peak' not in header
    assert '| ATen ops per backbone forward | b1 | b2 |' in report


def test_os_memory_probe_runs_one_model_in_a_subprocess(benchmark):
    args = benchmark.parse_args(
        ['--quick', '--frames', '4', '--size', '32', '--impl', 'batched'])
    probe = probe_in_subprocess([sys.executable, TOOL, *args.argv],
                                'blvnet')
    assert probe['os_peak_bytes'] > 0 and probe['step_s'] > 0
    # on CPU: the step's process CPU time, user plus kernel (page faults)
    assert probe['cpu_s'] == pytest.approx(probe['user_s'] + probe['sys_s'])
    assert probe['user_s'] > 0 and probe['sys_s'] >= 0


@pytest.mark.parametrize('argv, message', [
    (['--amp'], '--amp needs --device cuda'),
    (['--largest-batch'], '--largest-batch needs --device cuda'),
])
def test_gpu_only_options_fail_clearly_on_cpu(benchmark, argv, message,
                                              capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert message in capsys.readouterr().err


def test_gpu_targets_preset_sets_the_target_conditions(benchmark):
    args = benchmark.parse_args(['--gpu-targets'])
    assert (args.device, args.amp, args.channels_last, args.train_batch,
            args.largest_batch) == ('cuda', True, True, 8, True)
    assert (args.frames, args.size, args.batch_sizes) == (16, 224, [1, 8])

