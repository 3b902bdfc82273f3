"""tools/demo.py --backend onnxruntime|openvino: an exported model gives
PyTorch's labels and scores, in file and window modes, with no model
built at inference."""
import re
import sys
from pathlib import Path

import pytest
from helpers import load_tool, run
from mmaction.registry import MODELS

demo = load_tool('tools/demo.py')
BACKENDS = ('pytorch', 'onnxruntime', 'openvino')


def first_video(deployed):
    with open(deployed['val_list']) as f:
        name = f.readline().split()[0]
    return str(Path(deployed['val_list']).parent / 'videos' / name)


def run_demo(deployed, backend, *options):
    model = deployed['checkpoint'] if backend == 'pytorch' else \
        deployed['onnx']
    argv = [first_video(deployed), deployed['config'], model, '--backend',
            backend, '--top-k', '6', *options]
    if backend != 'openvino':
        return demo.main(argv)
    # OpenVINO runs in a process of its own: with its thread pool loaded
    # into the test process, a later test of the full suite died of
    # SIGSEGV while waiting for a subprocess. Its output is passed on to
    # capsys; onnxruntime, in this process, pins the no-model-build path.
    result = run([sys.executable, 'tools/demo.py', *argv])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def scores(text):
    return {label: float(score) for label, score in re.findall(
        r'^(\d+): (\d\.\d{4})$', text, flags=re.M)}


def windows(text):
    return re.findall(r'^(\S+-\S+): (\d+) (\d\.\d{4})$', text, flags=re.M)


@pytest.fixture
def no_model_build(monkeypatch):
    """Fail if anything builds an MMAction2 model."""

    def refuse(*args, **kwargs):
        raise AssertionError('a model was built')

    monkeypatch.setattr(MODELS, 'build', refuse)
    monkeypatch.setattr(demo, 'init_checked_recognizer', refuse)


def test_file_mode_gives_pytorchs_scores(deployed, capsys):
    found = {}
    for backend in BACKENDS:
        assert run_demo(deployed, backend) == 0
        captured = capsys.readouterr()
        found[backend] = scores(captured.out)
        assert re.search(r'^real-time factor: \d+\.\d\d', captured.err,
                         flags=re.M), captured.err
    expected = found['pytorch']
    assert len(expected) == 6
    for backend in BACKENDS[1:]:
        # Same order of labels, scores equal to the printed digits.
        assert list(found[backend]) == list(expected), backend
        for label, score in expected.items():
            assert found[backend][label] == pytest.approx(score, abs=2e-4)


@pytest.mark.parametrize('backend', BACKENDS[1:])
def test_window_mode_builds_no_model(deployed, backend, capsys,
                                     no_model_build):
    assert run_demo(deployed, backend, '--window', '0.5') == 0
    out = capsys.readouterr().out
    assert windows(out)
    assert re.search(r'^real-time factor: ', out, flags=re.M)


def test_window_mode_gives_pytorchs_labels(deployed, capsys):
    assert run_demo(deployed, 'pytorch', '--window', '0.5') == 0
    expected = windows(capsys.readouterr().out)
    assert run_demo(deployed, 'onnxruntime', '--window', '0.5') == 0
    found = windows(capsys.readouterr().out)
    assert [w[:2] for w in found] == [w[:2] for w in expected]
    for (_, _, score), (_, _, want) in zip(found, expected):
        assert float(score) == pytest.approx(float(want), abs=2e-4)


def test_runtime_backend_errors_name_the_file(deployed, tmp_path, capsys):
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not a model')
    code = demo.main([first_video(deployed), deployed['config'], str(bad),
                      '--backend', 'onnxruntime'])
    assert code == 1
    assert capsys.readouterr().err.startswith(
        f'error: {bad}: not an ONNX model')
    code = demo.main([first_video(deployed), deployed['config'],
                      str(tmp_path / 'missing.onnx'), '--backend',
                      'openvino'])
    assert code == 1
    assert 'missing.onnx: no such ONNX file' in capsys.readouterr().err


def test_runtime_backend_checks_the_sampled_frames(deployed, capsys):
    code = run_demo(deployed, 'onnxruntime', '--cfg-options',
                    'test_pipeline.1.num_clips=4')
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {deployed['onnx']}'s num_segments=8, "
                          'but test_pipeline'), err
