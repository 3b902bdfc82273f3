"""tools/deployment/export_onnx.py: ONNX graph equal to PyTorch's logits."""
import contextlib
import io
import re
from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from helpers import REPO, load_tool, random_model_files
from onnx import numpy_helper

PAPER = REPO / 'configs' / 'blvnet_tam_r50_8x.py'
T, SIZE, NUM_CLASSES = 4, 64, 5
SMALL_CONFIG = f"""
_base_ = [{str(PAPER)!r}]
model = dict(
    backbone=dict(num_segments={T}), cls_head=dict(num_classes={NUM_CLASSES}))
"""

tool = load_tool('tools/deployment/export_onnx.py')


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """The small config, and a checkpoint of random weights."""
    root = tmp_path_factory.mktemp('export')
    config, model = random_model_files(root, SMALL_CONFIG,
                                       (T, 3, SIZE, SIZE), seed=1)
    return dict(config=str(config), checkpoint=str(root / 'w.pth'),
                model=model)


def export_args(small, out, *options, checkpoint=None):
    return [small['config'], checkpoint or small['checkpoint'], str(out),
            '--shape', str(SIZE), str(SIZE), *options]


def parity_lines(text):
    """{batch: (max abs diff, logit scale, relative)} from the output."""
    lines = re.findall(r'^batch (\d+): max abs diff (\S+) at logit scale '
                       r'(\S+) \((\S+) of the scale\)$', text, flags=re.M)
    return {int(b): tuple(map(float, rest)) for b, *rest in lines}


@pytest.fixture(scope='module')
def exported(small, tmp_path_factory):
    """The small model exported from its checkpoint, and the tool's output."""
    out = tmp_path_factory.mktemp('onnx') / 'small.onnx'
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = tool.main(export_args(small, out))
    return dict(out=out, code=code, text=stdout.getvalue())


def logits(model, clips):
    """PyTorch logits (N, num_classes) of clips (N, T, 3, H, W)."""
    with torch.no_grad():
        feats, _ = model.extract_feat(clips, stage='head', test_mode=True)
    return feats.numpy()


def test_random_weights_give_logits_that_depend_on_the_clip(small):
    clips = torch.randn(2, T, 3, SIZE, SIZE,
                        generator=torch.Generator().manual_seed(0))
    out = logits(small['model'], clips)
    # Otherwise a parity check would compare constants (biases).
    assert np.abs(out[0] - out[1]).max() > 0.2 * np.abs(out).max()


def test_tool_reports_parity_at_batch_1_and_3(exported):
    assert exported['code'] == 0, exported['text']
    found = parity_lines(exported['text'])
    assert sorted(found) == [1, 3]
    for diff, scale, relative in found.values():
        assert scale > 0.5  # real logits, not the ~1e-7 of a fresh model
        assert diff <= 1e-4 * scale and relative <= 1e-4


@pytest.mark.parametrize('batch', [1, 3])
def test_written_file_alone_matches_pytorch(small, exported, batch):
    out = exported['out']
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    session = onnxruntime.InferenceSession(
        str(out), providers=['CPUExecutionProvider'])
    (clips_in, ) = session.get_inputs()
    assert clips_in.name == 'clips'
    assert clips_in.shape[1:] == [T, 3, SIZE, SIZE]
    assert isinstance(clips_in.shape[0], str)  # dynamic batch axis
    clips = torch.randn(batch, T, 3, SIZE, SIZE,
                        generator=torch.Generator().manual_seed(batch))
    (actual, ) = session.run(None, {'clips': clips.numpy()})
    expected = logits(small['model'], clips)
    assert actual.shape == (batch, NUM_CLASSES)
    scale = np.abs(expected).max()
    assert np.abs(actual - expected).max() <= 1e-4 * scale


def test_graph_has_no_slice_writes_or_transposed_clips(exported):
    # TAM exports as shifts of whole frames: a write into a slice would be
    # a ScatterND (with Range indices) between transposes, slow in ONNX
    # Runtime.
    ops = Counter(node.op_type
                  for node in onnx.load(str(exported['out'])).graph.node)
    assert not {'ScatterND', 'Range', 'ScatterElements'} & set(ops)
    assert ops['Transpose'] == 1  # the even / odd reordering of the frames


def constants(graph):
    """{name: array} of the graph's initializers and Constant outputs."""
    values = {init.name: numpy_helper.to_array(init)
              for init in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            values[node.output[0]] = numpy_helper.to_array(
                node.attribute[0].t)
    return values


def test_graph_works_on_4d_maps_in_runtime_layouts(exported):
    # What a runtime keeps in its own layout (NCHWc, NHWC) and kernels:
    # the big branch is upsampled by Resize (not a 6-D broadcast Add), the
    # stem convolution runs per parity (no Slice copying its 64-channel
    # maps), TAM rotates whole frames (Slice + Concat on the batch axis,
    # no Pad: ONNX Runtime runs an int8 Pad in float32) and convolves each
    # term depthwise (the sum and ReLU fuse into them), and the shortcut
    # pools are depthwise convolutions (its int8 AveragePool is slow).
    graph = onnx.shape_inference.infer_shapes(
        onnx.load(str(exported['out']))).graph
    shapes = {
        info.name: [d.dim_value or d.dim_param for d in
                    info.type.tensor_type.shape.dim]
        for info in [*graph.value_info, *graph.input, *graph.output]
    }
    ops = Counter(node.op_type for node in graph.node)
    assert ops['Resize'] == 3  # one per big-little stage (layer1..layer3)
    assert not {'Pad', 'AveragePool'} & set(ops)
    for node in graph.node:
        if node.op_type in ('Add', 'Mul', 'Relu', 'Resize', 'Concat'):
            assert len(shapes[node.output[0]]) <= 4, node.name
    values = constants(graph)
    rotations = Counter()
    for node in graph.node:
        if node.op_type == 'Slice' and shapes[node.input[0]][1] != 3:
            assert values[node.input[3]].tolist() == [0], node.name
            rotations[node.input[0]] += 1
    # Each rotation by a TAM offset (-1 or +1) is two slices of the frames
    # and one concatenation along the batch.
    assert rotations and set(rotations.values()) <= {2, 4}
    concats = [node for node in graph.node if node.op_type == 'Concat']
    assert all(node.attribute[0].i == 0 for node in concats)
    assert len(concats) >= sum(rotations.values()) // 2
    # Each rotated clip is masked per frame (the frames a shift takes from
    # the next clip, or wraps around) and convolved depthwise with the
    # term's channel weights: only the rotation and the mask run outside
    # the runtime's convolution layout.
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {init.name: init for init in graph.initializer}
    rotated = [
        node for node in concats
        if all(producers[name].op_type == 'Slice' and producers[name].input[0]
               in rotations for name in node.input)
    ]
    assert len(rotated) == sum(rotations.values()) // 2
    for concat in rotated:
        (mask, ) = consumers[concat.output[0]]
        assert mask.op_type == 'Mul', concat.name
        (factor, ) = set(mask.input) - set(concat.output)
        assert shapes[factor][1:] == [1, 1, 1], mask.name
        (conv, ) = consumers[mask.output[0]]
        group = next(a.i for a in conv.attribute if a.name == 'group')
        weight = initializers[conv.input[1]].dims
        assert conv.op_type == 'Conv' and list(weight[1:]) == [1, 1, 1]
        assert group == weight[0] == shapes[concat.output[0]][1], conv.name


def test_file_carries_what_a_user_must_feed_it(exported):
    meta = {p.key: p.value for p in onnx.load(
        str(exported['out']), load_external_data=False).metadata_props}
    assert meta['num_segments'] == str(T)
    assert meta['num_classes'] == str(NUM_CLASSES)
    assert meta['mean'] == '[123.675, 116.28, 103.53]'
    assert meta['std'] == '[58.395, 57.12, 57.375]'


def test_existing_file_is_kept_unless_overwrite(small, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    out.write_bytes(b'keep me')
    assert tool.main(export_args(small, out, checkpoint='none')) == 1
    assert 'exists; pass --overwrite' in capsys.readouterr().err
    assert out.read_bytes() == b'keep me'
    assert tool.main(export_args(small, out, '--overwrite',
                                 checkpoint='none')) == 0
    found = parity_lines(capsys.readouterr().out)
    assert all(scale > 0.5 for _, scale, _ in found.values())
    onnx.checker.check_model(str(out))
    assert [p.name for p in tmp_path.iterdir()] == ['model.onnx']


def test_parity_failure_exits_non_zero_and_writes_nothing(
        small, tmp_path, monkeypatch, capsys):
    export_onnx = tool.export_onnx

    def export_then_change_the_model(model, *args, **kwargs):
        export_onnx(model, *args, **kwargs)
        with torch.no_grad():
            model.cls_head.fc_cls.bias.add_(0.01)

    monkeypatch.setattr(tool, 'export_onnx', export_then_change_the_model)
    out = tmp_path / 'model.onnx'
    assert tool.main(export_args(small, out)) == 1
    assert 'of the logit scale (> 0.0001)' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


CAUSAL_CONFIG = SMALL_CONFIG + """
model['backbone']['tam_cfg'] = dict(blending_frames=3, causal=True)
"""


@pytest.fixture(scope='module')
def causal(tmp_path_factory):
    """The small config with causal TAMs, a checkpoint of random weights
    and the tool's --online export of it."""
    root = tmp_path_factory.mktemp('causal')
    config, model = random_model_files(root, CAUSAL_CONFIG,
                                       (T, 3, SIZE, SIZE), seed=2)
    small = dict(config=str(config), checkpoint=str(root / 'w.pth'))
    out = root / 'step' / 'step.onnx'
    out.parent.mkdir()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = tool.main(export_args(small, out, '--online'))
    return dict(small, model=model, out=out, code=code,
                text=stdout.getvalue())


def test_online_export_reports_stream_parity_of_1_and_3_streams(causal):
    assert causal['code'] == 0, causal['text']
    lines = re.findall(r'^streams (\d+): max abs diff (\S+) at logit scale '
                       r'(\S+) \((\S+) of the scale\)$', causal['text'],
                       flags=re.M)
    assert [int(count) for count, *_ in lines] == [1, 3]
    for _, diff, scale, relative in lines:
        assert float(scale) > 0.5
        assert float(diff) <= 1e-4 * float(scale)
        assert float(relative) <= 1e-4
    assert 'frame pairs (S, 2, 3, 64, 64)' in causal['text']


@pytest.mark.slow
def test_online_file_alone_follows_the_pytorch_stream(causal):
    from mmblvnet.apis.online import (
        OnlineRecognizer,
        RuntimeOnlineRecognizer,
        stream_pairs,
    )
    out = causal['out']
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    session = onnxruntime.InferenceSession(
        str(out), providers=['CPUExecutionProvider'])
    pair_in, *buffers = session.get_inputs()
    assert pair_in.name == 'pair' and pair_in.shape[1:] == [2, 3, SIZE, SIZE]
    assert isinstance(pair_in.shape[0], str)  # dynamic stream axis
    assert buffers and all(b.name.startswith('buffer_') for b in buffers)
    online = OnlineRecognizer(causal['model'], window=T // 2)
    runtime = RuntimeOnlineRecognizer(str(out), window=T // 2)
    clips = torch.randn(2, 2 * T, 3, SIZE, SIZE,
                        generator=torch.Generator().manual_seed(3))
    for pair in stream_pairs(clips.numpy()):
        expected = online.step(torch.from_numpy(pair)).numpy()
        assert np.abs(runtime.step(pair) - expected).max() <= 1e-4


def test_online_export_refuses_a_model_with_offline_tams(small, tmp_path,
                                                          capsys):
    out = tmp_path / 'step.onnx'
    assert tool.main(export_args(small, out, '--online')) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(r'error: online recognition needs causal TAMs .*'
                        r'causal=True.*\n', err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_online_parity_failure_exits_non_zero_and_writes_nothing(
        causal, tmp_path, monkeypatch, capsys):
    export_step_onnx = tool.export_step_onnx

    def export_a_changed_model(online, *args):
        with torch.no_grad():
            online.model.cls_head.fc_cls.bias.add_(0.01)
        export_step_onnx(online, *args)

    monkeypatch.setattr(tool, 'export_step_onnx', export_a_changed_model)
    out = tmp_path / 'step.onnx'
    assert tool.main(export_args(causal, out, '--online')) == 1
    assert 'of the logit scale (> 0.0001)' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
