"""tools/demo.py --online: one line per frame pair, in PyTorch and on an
exported step, and its errors."""
import re

import numpy as np
import pytest
from helpers import SMALL_CONFIG, load_tool, random_model_files

from mmblvnet.apis.online import OnlineRecognizer, export_step_onnx
from mmblvnet.apis.stream import frame_pairs
from mmblvnet.datasets.synthetic import write_video

# The demo tests' model with causal TAMs.
CAUSAL_CONFIG = SMALL_CONFIG.replace(
    'backbone=dict(num_segments=4)',
    'backbone=dict(num_segments=4, tam_cfg=dict(blending_frames=3, '
    'causal=True))')
assert 'causal=True' in CAUSAL_CONFIG
LINE = re.compile(r'(\d+\.\d\d): ([0-4]) (\d\.\d{4})')

demo = load_tool('tools/demo.py')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Config, checkpoint, exported step and a 16-frame video at 8 fps."""
    root = tmp_path_factory.mktemp('online')
    _, model = random_model_files(root, CAUSAL_CONFIG, (4, 3, 64, 64))
    export_step_onnx(OnlineRecognizer(model), (3, 64, 64),
                     str(root / 'step.onnx'))
    (root / 'offline.py').write_text(
        CAUSAL_CONFIG.replace('causal=True', 'causal=False'))
    frames = np.random.default_rng(0).integers(
        0, 256, (16, 64, 64, 3), dtype=np.uint8)
    write_video(str(root / 'clip.mp4'), frames, fps=8)
    return root


def online(files, capsys, *options, checkpoint='w.pth', config='small.py'):
    status = demo.main([str(files / 'clip.mp4'), str(files / config),
                        str(files / checkpoint), '--online', *options])
    return status, capsys.readouterr()


def test_one_line_per_pair_and_the_real_time_factor(files, capsys):
    status, out = online(files, capsys)
    assert status == 0
    lines = out.out.splitlines()
    steps = [LINE.fullmatch(line) for line in lines[:-1]]
    assert all(steps) and len(steps) == 8, lines
    assert [float(step[1]) for step in steps] == [0.25 * i for i in
                                                  range(1, 9)]
    assert re.fullmatch(r'real-time factor: \d+\.\d\d \(.* for 2\.0 s of '
                        r'video at 8 fps\)', lines[-1])


def test_frame_interval_takes_every_nth_frame(files, capsys):
    status, out = online(files, capsys, '--frame-interval', '2')
    assert status == 0
    assert len(out.out.splitlines()) == 1 + 4
    assert [count for count, _ in frame_pairs(range(9), 2)] == [3, 7]


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_exported_step_gives_the_labels_of_pytorch(files, capsys, backend):
    _, pytorch = online(files, capsys)
    status, exported = online(files, capsys, '--backend', backend,
                              checkpoint='step.onnx')
    assert status == 0
    expected = [LINE.fullmatch(line) for line in
                pytorch.out.splitlines()[:-1]]
    for want, line in zip(expected, exported.out.splitlines()[:-1]):
        got = LINE.fullmatch(line)
        assert got.group(1, 2) == want.group(1, 2)
        assert abs(float(got[3]) - float(want[3])) <= 2e-4


def test_an_offline_model_is_refused_naming_the_key(files, capsys):
    status, out = online(files, capsys, config='offline.py')
    assert status == 1
    assert 'causal=True' in out.err and out.out == ''
