"""Every command-line tool reports a user error the same way.

Each tool's entry runs through :func:`mmblvnet.utils.cli.run_main`: a bad
input gives exactly one ``error: <file or key>: <reason>`` line on stderr
and status 1, no traceback; ``--debug`` lets the exception through (with
its traceback).
"""
import importlib
import sys

import pytest
from helpers import DEMO, load_tool, run

from mmblvnet import quickstart
from mmblvnet.utils.cli import USER_ERRORS
from study import __main__ as study


def _entry(tool: str):
    """The function a tool's command runs, given its arguments."""
    if tool.endswith('.py'):
        module = load_tool(tool)
        return getattr(module, 'main', None) or getattr(
            module, tool.rsplit('/', 1)[-1][:-3])
    if tool.startswith('benchmarks.'):
        return importlib.import_module(tool).main
    return dict(quickstart=quickstart.main, study=study.main)[tool]


def _zoo_folder_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'configs').write_text('')
    return [], 'configs/zoo'


# Tool -> (arguments, what the error line names) for a bad input under
# tmp_path (a missing file unless said otherwise).
BAD_INPUTS = {
    'tools/train.py': lambda tmp, _: ([f'{tmp}/no.py'], f'{tmp}/no.py'),
    'tools/test.py': lambda tmp, _: ([f'{tmp}/no.py', f'{tmp}/no.pth'],
                                     f'{tmp}/no.py'),
    'tools/demo.py': lambda tmp, _: (
        [f'{tmp}/no.mp4', f'{tmp}/no.py', f'{tmp}/no.pth'], f'{tmp}/no.py'),
    'tools/convert_ibm_checkpoint.py': lambda tmp, _: (
        [f'{tmp}/no.pth.tar', f'{tmp}/out.pth'], f'{tmp}/no.pth.tar'),
    'tools/deployment/export_onnx.py': lambda tmp, _: (
        [f'{tmp}/no.py', 'none', f'{tmp}/out.onnx'], f'{tmp}/no.py'),
    'tools/deployment/quantize.py': lambda tmp, _: (
        [f'{tmp}/no.py', f'{tmp}/no.pth', f'{tmp}/no.onnx', '--calib',
         f'{tmp}/no.txt'], f'{tmp}/no.py'),
    'tools/data/make_seekable.py': lambda tmp, _: (
        [f'{tmp}/no.txt', f'{tmp}/src', f'{tmp}/dst'], f'{tmp}/no.txt'),
    'tools/analysis/get_flops.py': lambda tmp, _: ([f'{tmp}/no.py'],
                                                   f'{tmp}/no.py'),
    'tools/analysis/profile_train_step.py': lambda tmp, _: (
        [f'{tmp}/no.py'], f'{tmp}/no.py'),
    'benchmarks.pipeline': lambda tmp, _: (
        [str(DEMO), '--videos', f'{tmp}/no.txt'], f'{tmp}/no.txt'),
    'benchmarks.model': lambda tmp, _: (
        ['--device', 'cuda', '--quick'], 'cuda'),
    'tools/misc/generate_zoo_configs.py': lambda tmp, monkeypatch:
    _zoo_folder_is_a_file(tmp, monkeypatch),
    'quickstart': lambda tmp, _: (
        ['--num-classes', '3', '--data-root', f'{tmp}/data'], 'num_classes'),
    'study': lambda tmp, _: (
        ['--quick', '--num-classes', '3', '--out-dir', f'{tmp}/study'],
        'num_classes'),
}


@pytest.mark.parametrize('tool', BAD_INPUTS)
def test_bad_input_is_one_error_line_and_debug_raises(tool, tmp_path,
                                                      monkeypatch, capsys):
    if tool == 'benchmarks.model':
        monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    main = _entry(tool)
    argv, named = BAD_INPUTS[tool](tmp_path, monkeypatch)
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1, err
    assert named in lines[0] and 'Traceback' not in err
    with pytest.raises(USER_ERRORS):
        main([*argv, '--debug'])


def test_a_tool_returning_results_exits_0():
    """A function that returns results to its Python callers (here
    get_flops.run's counts) is status 0 as a command."""
    assert _entry('tools/analysis/get_flops.py')(
        [str(DEMO), '--shape', '32', '32', '--no-table']) == 0


def test_a_package_command_prints_the_traceback_with_debug(tmp_path):
    command = [sys.executable, '-m', 'study', '--quick',
               '--num-classes', '3', '--out-dir', str(tmp_path)]
    for debug in (False, True):
        result = run(command + ['--debug'] * debug)
        assert result.returncode == 1
        assert ('Traceback' in result.stderr) == debug, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(
            'ValueError: num_classes' if debug else 'error: num_classes')


@pytest.mark.parametrize('module, argv', [
    ('mmblvnet.datasets.synthetic', ['{out}']),
    ('benchmarks.video_styles', ['{out}', '--style', 'kinetics',
                                        '--videos', '1']),
])
def test_data_generators_report_one_error_line(module, argv, tmp_path):
    """The generators' ``python -m`` commands go through run_main too."""
    out = tmp_path / 'taken'
    out.write_text('a file where the data set folder should be')
    result = run([sys.executable, '-m', module,
                  *[arg.format(out=out) for arg in argv]])
    lines = [line for line in result.stderr.splitlines()
             if line.startswith('error:')]
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1 and str(out) in lines[0], result.stderr
    assert 'Traceback' not in result.stderr
