"""OnlineRecognizer: pair by pair from empty stream buffers, the causal
model's clip forward, at the cost of one pair per call."""
import ast
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from reference import randomize_

from mmblvnet.apis.online import OnlineRecognizer, stream_pairs

CONFIG = 'configs/blvnet_tam_r50_8x.py'
NUM_SEGMENTS = 8


def causal_recognizer(causal=True, blending_frames=3):
    init_default_scope('mmaction')
    cfg = copy.deepcopy(Config.fromfile(CONFIG).model)
    cfg.backbone.update(
        num_segments=NUM_SEGMENTS,
        tam_cfg=dict(blending_frames=blending_frames, causal=causal))
    cfg.cls_head.update(num_classes=5, average_clips='prob')
    model = MODELS.build(cfg)
    randomize_(model.backbone)
    torch.nn.init.normal_(model.cls_head.fc_cls.weight, std=0.05)
    return model.eval()


@pytest.fixture(scope='module')
def model():
    return causal_recognizer()


def _clip_forward(model, clips):
    """Per-frame features (N, T, ...) and clip scores (N, classes)."""
    frames = clips.flatten(0, 1)
    with torch.no_grad():
        features = model.backbone(frames)
        logits = model.cls_head(features, num_segs=NUM_SEGMENTS)
    scores = model.cls_head.average_clip(logits, num_segs=1)
    return features.view(*clips.shape[:2], *features.shape[1:]), scores


def test_pair_by_pair_equals_the_clip_forward(model):
    clips = torch.randn(3, NUM_SEGMENTS, 3, 32, 32)  # 3 streams
    features, scores = _clip_forward(model, clips)
    scale = features.abs().max()
    online = OnlineRecognizer(model, window=NUM_SEGMENTS // 2)
    for index, pair in enumerate(stream_pairs(clips)):
        got = online.features(pair)
        for parity in (0, 1):
            torch.testing.assert_close(
                got, features[:, 2 * index + parity], atol=1e-5 * scale,
                rtol=0)
    online.reset()
    for pair in stream_pairs(clips):
        online_scores = online.step(pair)
    torch.testing.assert_close(online_scores, scores, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('blending_frames', [2, 5])
def test_every_blending_width_streams_exactly(blending_frames):
    """Buffers of k - 1 frames, or of ceil((k - 1) / 2) maps where a pair
    holds one map, for an even and a wider k."""
    model = causal_recognizer(blending_frames=blending_frames)
    clips = torch.randn(2, NUM_SEGMENTS, 3, 32, 32)
    features, _ = _clip_forward(model, clips)
    online = OnlineRecognizer(model)
    for index, pair in enumerate(stream_pairs(clips)):
        torch.testing.assert_close(
            online.features(pair), features[:, 2 * index],
            atol=1e-5 * features.abs().max(), rtol=0)
    assert sorted({tam.num_buffers for tam in online.streaming_tams}) == (
        sorted({blending_frames - 1, blending_frames // 2}))


def test_reset_starts_a_new_clip_and_streams_are_independent(model):
    clips = torch.randn(2, NUM_SEGMENTS, 3, 32, 32)
    online = OnlineRecognizer(model, window=2)
    first = [online.step(pair) for pair in stream_pairs(clips)]
    online.reset()
    again = [online.step(pair) for pair in stream_pairs(clips)]
    alone = OnlineRecognizer(model, window=2)
    solo = [alone.step(pair[1:]) for pair in stream_pairs(clips)]
    for a, b, c in zip(first, again, solo):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a[1:], c, atol=1e-6, rtol=1e-5)


def test_window_averages_the_last_pairs_logits(model):
    clips = torch.randn(1, NUM_SEGMENTS, 3, 32, 32)
    online = OnlineRecognizer(model, window=2)
    logits = []
    for pair in stream_pairs(clips):
        logits.append(model.cls_head(online.features(pair), num_segs=1))
    online.reset()
    for pair in stream_pairs(clips):
        scores = online.step(pair)
    expected = torch.stack(logits[-2:]).mean(0).softmax(-1)
    torch.testing.assert_close(scores, expected, atol=1e-6, rtol=1e-5)


def test_offline_tams_and_bad_input_are_refused(model):
    with pytest.raises(ValueError, match='causal=True'):
        OnlineRecognizer(causal_recognizer(causal=False), window=4)
    online = OnlineRecognizer(model, window=4)
    with pytest.raises(ValueError, match=r'\(streams, 2, C, H, W\)'):
        online.step(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match='window'):
        OnlineRecognizer(model, window=0)
    online.step(torch.randn(2, 2, 3, 32, 32))
    with pytest.raises(ValueError, match=r'3 streams, .* hold 2: call reset'):
        online.step(torch.randn(3, 2, 3, 32, 32))
    online.reset()
    assert online.step(torch.randn(3, 2, 3, 32, 32)).shape == (3, 5)


@pytest.fixture(scope='module')
def step_files(model, tmp_path_factory):
    """The model's step exported (fp32) and quantized with stream-reached
    buffers (int8)."""
    from mmblvnet.apis.online import calibration_feeds, export_step_onnx
    from mmblvnet.apis.quantize import quantize_int8
    folder = tmp_path_factory.mktemp('online')
    online = OnlineRecognizer(model, window=NUM_SEGMENTS // 2)
    fp32, int8 = str(folder / 'step.onnx'), str(folder / 'step_int8.onnx')
    export_step_onnx(online, (3, 32, 32), fp32)
    generator = torch.Generator().manual_seed(1)
    calibration = (torch.randn(2, NUM_SEGMENTS, 3, 32, 32,
                               generator=generator).numpy()
                   for _ in range(4))
    quantize_int8(fp32, int8, calibration_feeds(online, calibration))
    return dict(fp32=fp32, int8=int8)


@pytest.fixture(scope='module')
def stream(model):
    """Pairs of 3 streams over a window and a half, and PyTorch's scores
    after each."""
    clips = torch.randn(3, NUM_SEGMENTS + 4, 3, 32, 32)
    online = OnlineRecognizer(model, window=NUM_SEGMENTS // 2)
    pairs = stream_pairs(clips)
    return pairs, [online.step(pair).numpy() for pair in pairs]


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
@pytest.mark.parametrize('precision,tolerance', [('fp32', 1e-5),
                                                 ('int8', 0.05)])
def test_exported_step_follows_the_pytorch_stream(step_files, stream,
                                                  backend, precision,
                                                  tolerance):
    from mmblvnet.apis.online import RuntimeOnlineRecognizer
    runtime = RuntimeOnlineRecognizer(step_files[precision],
                                      NUM_SEGMENTS // 2, backend)
    pairs, expected = stream
    for pair, scores in zip(pairs, expected):
        got = runtime.step(pair.numpy())
        assert got.shape == scores.shape == (3, 5)
        assert abs(got - scores).max() <= tolerance
    runtime.reset()
    assert abs(runtime.step(pairs[0].numpy()) - expected[0]).max() <= (
        tolerance)


def test_int8_step_carries_its_buffers_in_uint8(step_files):
    import onnx

    from mmblvnet.apis.online import uint8_stream_buffers
    int8 = onnx.load(step_files['int8'])
    fp32 = onnx.load(step_files['fp32'])
    assert [tensor.name for tensor in int8.graph.input] == [
        tensor.name for tensor in fp32.graph.input]
    buffers = [*int8.graph.input[1:], *int8.graph.output[1:]]
    assert {tensor.type.tensor_type.elem_type for tensor in buffers} == {
        onnx.TensorProto.UINT8}
    metadata = {prop.key: prop.value for prop in int8.metadata_props}
    zero_points = ast.literal_eval(metadata['buffer_zero_points'])
    assert len(zero_points) == len(int8.graph.input) - 1
    quantized = {node.input[0] for node in int8.graph.node
                 if node.op_type == 'QuantizeLinear'}
    assert not quantized & {tensor.name for tensor in buffers}
    with pytest.raises(ValueError, match='next_buffer_0: not a quantized'):
        uint8_stream_buffers(fp32)


def test_int8_calibration_meets_the_buffers_a_stream_reaches(model):
    from mmblvnet.apis.online import calibration_feeds
    online = OnlineRecognizer(model, window=2)
    clip = torch.randn(1, NUM_SEGMENTS, 3, 32, 32)
    feeds = list(calibration_feeds(online, iter([clip.numpy()])))
    assert len(feeds) == NUM_SEGMENTS // 2
    assert all(not buffer.any() for name, buffer in feeds[0].items()
               if name.startswith('buffer_'))
    # The buffers before pair 2 are those the stream holds after pair 1.
    online.reset()
    for pair in stream_pairs(clip)[:2]:
        online.features(pair)
    frames = [frame for tam in online.streaming_tams for frame in tam.buffer]
    # k - 1 frames each, one pair map where a pair holds one map (k = 3)
    assert [len(tam.buffer) for tam in online.streaming_tams] == [
        1 if tam.shared_maps else 2 for tam in online.streaming_tams]
    for index, frame in enumerate(frames):
        torch.testing.assert_close(
            torch.from_numpy(feeds[2][f'buffer_{index}']), frame)
