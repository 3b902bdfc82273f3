"""Video demo CLI and ONNX export with parity in onnxruntime."""
import importlib.util
import re
from pathlib import Path

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint
from reference import randomize_

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / 'configs' / 'demo' /
           'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py')


def load_tool(relative):
    spec = importlib.util.spec_from_file_location(
        relative.replace('/', '_'), REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_tool('tools/demo.py')
export = load_tool('tools/deployment/export_onnx.py')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """Random (non-trivial) weights of the demo model, 6 classes."""
    init_default_scope('mmaction')
    model = randomize_(MODELS.build(Config.fromfile(DEMO).model))
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    save_checkpoint({'state_dict': model.state_dict()}, str(path))
    return str(path)


def predictions(text):
    return re.findall(r'^(\S+): (\d\.\d{4})$', text, flags=re.M)


def test_demo_prints_top_k_named_labels(synthetic_root, checkpoint, capsys):
    video = str(synthetic_root / 'videos/val/00002.mp4')
    labels = str(synthetic_root / 'classes.txt')
    assert demo.main([video, DEMO, checkpoint, '--label-map', labels,
                      '--top-k', '3']) == 0
    found = predictions(capsys.readouterr().out)
    assert len(found) == 3
    names = (synthetic_root / 'classes.txt').read_text().split()
    assert all(name in names for name, _ in found)
    scores = [float(score) for _, score in found]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize('kind,message', [
    ('missing', 'no such video file'),
    ('empty', 'the file is empty'),
    ('corrupt', 'cannot be decoded'),
])
def test_demo_names_a_bad_video(kind, message, tmp_path, checkpoint,
                                capsys):
    video = tmp_path / 'clip.mp4'
    if kind == 'empty':
        video.write_bytes(b'')
    elif kind == 'corrupt':
        video.write_bytes(b'not a video' * 100)
    assert demo.main([str(video), DEMO, checkpoint]) == 1
    err = capsys.readouterr().err
    assert str(video) in err and message in err


def test_demo_refuses_label_map_and_checkpoint_that_do_not_fit(
        synthetic_root, tmp_path, checkpoint, capsys):
    video = str(synthetic_root / 'videos/val/00002.mp4')
    labels = tmp_path / 'labels.txt'
    labels.write_text('a\nb\n')
    assert demo.main([video, DEMO, checkpoint, '--label-map',
                      str(labels)]) == 1
    assert 'names 2 classes but the model has num_classes=6' in (
        capsys.readouterr().err)
    assert demo.main([video, DEMO, checkpoint, '--cfg-options',
                      'model.cls_head.num_classes=5']) == 1
    assert 'wrong shape: cls_head.fc_cls.weight' in capsys.readouterr().err


def test_onnx_export_matches_pytorch_at_batch_1_and_3(checkpoint, tmp_path,
                                                      capsys):
    out = tmp_path / 'model.onnx'
    args = [DEMO, checkpoint, str(out), '--num-segments', '4', '--shape',
            '32', '32']
    assert export.main(args) == 0
    text = capsys.readouterr().out
    for batch in (1, 3):
        line = re.search(rf'batch {batch}: max abs diff (\S+) at logit '
                         r'scale (\S+) \((\S+) of the scale\)', text)
        assert line and float(line.group(3)) <= 1e-4
        assert float(line.group(2)) > 0.1  # random weights, real logits
    assert out.stat().st_size > 0
    stamp = out.stat().st_mtime_ns
    assert export.main(args) == 1  # never overwritten without asking
    assert out.stat().st_mtime_ns == stamp
