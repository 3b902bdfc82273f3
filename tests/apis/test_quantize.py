"""tools/deployment/quantize.py: static int8 QDQ, checked on a held-out
list; refuses a model that fails the check and files that do not fit."""
import json
import platform
import re
import shutil
import subprocess
import sys
from collections import Counter

import int8_saturation
import numpy as np
import onnx
import pytest
from helpers import load_tool, random_model_files
from int8_saturation import (
    SATURATING_INPUT,
    cpu_description,
    run_saturating_conv,
    saturating_conv,
)

from mmblvnet.apis.export import computed_weights
from mmblvnet.apis.quantize import (
    check_no_saturation,
    compare_top1,
    list_dataset,
    quantize_int8,
)
from mmblvnet.apis.runtime import RuntimeRecognizer

tool = load_tool('tools/deployment/quantize.py')

CHECK_LINE = (r'top-1 on (\d+) held-out clips: fp32 (\S+)%, int8 (\S+)% '
              r'\(drop (\S+) points\); top-1 labels agree on (\S+)%')


def quantize(deployed, out, *options, checkpoint=None):
    return tool.main([
        deployed['config'], checkpoint or deployed['checkpoint'],
        deployed['onnx'], '--calib', deployed['train_list'], '--test',
        deployed['val_list'], '--out', str(out), '--calib-size', '4',
        *options
    ])


def test_export_stores_every_conv_and_linear_weight(deployed):
    # int8 quantizers need each weight as an initializer of the file.
    model = onnx.load(deployed['onnx'])
    assert computed_weights(model) == []
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops['Conv'] > 50 and ops['Gemm'] == 1
    assert 'BatchNormalization' not in ops  # folded into the weights


def test_computed_weights_names_a_weight_made_in_the_graph():
    from onnx import TensorProto, helper
    scale = helper.make_tensor('scale', TensorProto.FLOAT, [1], [2.0])
    raw = helper.make_tensor('raw', TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    graph = helper.make_graph(
        [helper.make_node('Mul', ['raw', 'scale'], ['folded']),
         helper.make_node('Conv', ['x', 'folded'], ['y']),
         helper.make_node('Conv', ['y', 'raw'], ['z'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT,
                                       [1, 1, 2, 2])],
        [helper.make_tensor_value_info('z', TensorProto.FLOAT,
                                       [1, 1, 2, 2])], [scale, raw])
    assert computed_weights(helper.make_model(graph)) == ['folded']


def test_writes_a_qdq_model_and_reports_its_check(deployed, tmp_path,
                                                  capsys):
    out = tmp_path / 'model.int8.onnx'
    code = quantize(deployed, out, '--max-drop', '100', '--min-agreement',
                    '0')
    text = capsys.readouterr().out
    assert code == 0, text
    model = onnx.load(str(out))
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops['QuantizeLinear'] > 50 and ops['DequantizeLinear'] > 50
    # Every op runs in int8: convolutions, residual adds and TAM's shifted
    # products and sums alike.
    producers = {out: node.op_type for node in model.graph.node
                 for out in node.output}
    quantized = {producers.get(node.input[0]) for node in model.graph.node
                 if node.op_type == 'QuantizeLinear'}
    assert {'Conv', 'Concat', 'Add', 'Mul'} <= quantized
    # The runtime reads the same metadata from the int8 file.
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata['num_segments'] == '8' and metadata['num_classes'] == '6'
    # The printed numbers are those of the two files on the test list.
    found = re.search(CHECK_LINE, text)
    assert found, text
    cfg = tool.Config.fromfile(deployed['config'])
    check = compare_top1(
        dict(fp32=RuntimeRecognizer(deployed['onnx']),
             int8=RuntimeRecognizer(str(out))),
        list_dataset(cfg, deployed['val_list']))
    assert int(found[1]) == check.num_samples == 6
    assert float(found[2]) == pytest.approx(check.fp32_top1, abs=0.01)
    assert float(found[3]) == pytest.approx(check.int8_top1, abs=0.01)
    assert float(found[5]) == pytest.approx(check.agreement, abs=0.01)
    assert re.search(r'vs PyTorch on the first test clip: max abs diff',
                     text)


def test_int8_follows_fp32_on_a_trained_model(trained_onnx, tmp_path):
    """Both runtimes run the int8 file of a trained model to fp32's top-1
    labels on every held-out clip, with a small median error."""
    fp32 = RuntimeRecognizer(trained_onnx['onnx'])
    path = str(tmp_path / 'int8.onnx')
    quantize_int8(trained_onnx['onnx'], path,
                  iter(trained_onnx['calibration']))
    clips = trained_onnx['held_out']
    assert len(clips) >= 8
    expected = fp32.logits(clips)
    for backend in ('onnxruntime', 'openvino'):
        found = RuntimeRecognizer(path, backend).logits(clips)
        assert (found.argmax(1) == expected.argmax(1)).all(), backend
        # Per clip: the largest logit error over that clip's logit scale.
        errors = (np.abs(found - expected).max(1) /
                  np.abs(expected).max(1))
        assert np.median(errors) < 0.05, (backend, errors)


@pytest.fixture
def saturating_int8(tmp_path) -> str:
    """``quantize_int8``'s file of ``saturating_conv``, calibrated on ones."""
    fp32 = saturating_conv(tmp_path / 'fp32.onnx')
    path = str(tmp_path / 'int8.onnx')
    quantize_int8(fp32, path, iter([np.ones(SATURATING_INPUT, np.float32)]))
    return path


def test_refuses_int8_weights_that_saturate_without_vnni(saturating_int8):
    from onnx import numpy_helper
    path = saturating_int8
    model = onnx.load(path)
    dequantized = {node.input[0] for node in model.graph.node
                   if node.op_type == 'DequantizeLinear'}
    weight = next(t for t in model.graph.initializer
                  if t.name in dequantized
                  and t.data_type == onnx.TensorProto.INT8)
    values = numpy_helper.to_array(weight)
    assert values.size == 64 and (values == 64).all()
    check_no_saturation(model, path)
    # The same weights at 8 bits: every product 255 x 127.
    weight.CopyFrom(numpy_helper.from_array(np.full_like(values, 127),
                                            weight.name))
    with pytest.raises(ValueError, match=rf'x.int8.onnx: not written: .*'
                       rf'{weight.name} \(\|w\| up to 127\)'):
        check_no_saturation(model, 'x.int8.onnx')


def test_saturating_conv_matches_the_unfused_run(saturating_int8):
    """A convolution whose products reach 255 x 64: each runtime's fused
    int8 kernels give what the unfused QDQ graph computes, within one
    output step, on this CPU (whatever its ISA)."""
    path = saturating_int8
    outputs = run_saturating_conv(path)
    step = outputs.pop('output step')
    for name, value in outputs.items():
        assert abs(value - outputs['unfused']) <= step, (
            f'{name}: {value} vs unfused {outputs["unfused"]} (exact 64.0, '
            f'step {step}) on {cpu_description()}')


@pytest.mark.skipif(shutil.which('qemu-x86_64') is None
                    or platform.machine() != 'x86_64',
                    reason='needs qemu-user on x86_64 (Debian qemu-user)')
def test_saturating_conv_on_an_avx2_cpu_without_vnni(saturating_int8):
    """The same check with the CPU emulated as an Intel Haswell (AVX2, no
    AVX-512, no VNNI), where 8-bit weights give 32.4 instead of 64."""
    path = saturating_int8
    result = subprocess.run(
        ['qemu-x86_64', '-cpu', 'Haswell', sys.executable,
         int8_saturation.__file__, path],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    outputs = json.loads(result.stdout.splitlines()[-1])
    step = outputs.pop('output step')
    for name, value in outputs.items():
        assert abs(value - 64.0) <= step, (name, outputs)


def test_refuses_a_model_that_fails_the_check_naming_the_numbers(
        deployed, tmp_path, capsys):
    out = tmp_path / 'model.int8.onnx'
    code = quantize(deployed, out, '--min-agreement', '100.5', '--max-drop',
                    '100')
    err = capsys.readouterr().err
    assert code == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert re.search(r'^error: .*model.int8.onnx: not written: top-1 '
                     r'agreement \S+% < 100.5%', err, flags=re.M), err
    assert re.search(CHECK_LINE, err), err


def test_refuses_an_onnx_file_of_another_checkpoint(deployed, tmp_path,
                                                    capsys):
    config_text = f'_base_ = [{str(deployed["root"] / "base.py")!r}]\n'
    random_model_files(tmp_path, config_text, (8, 3, 32, 32), seed=7)
    out = tmp_path / 'model.int8.onnx'
    code = quantize(deployed, out, checkpoint=str(tmp_path / 'w.pth'))
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert re.search(r'^error: .*fp32.onnx: its logits differ from '
                     r'.*w.pth\'s by \S+ of the logit scale', err,
                     flags=re.M), err


def test_refuses_to_calibrate_on_the_test_list(deployed, tmp_path, capsys):
    code = tool.main([
        deployed['config'], deployed['checkpoint'], deployed['onnx'],
        '--calib', deployed['val_list'], '--test', deployed['val_list'],
        '--out', str(tmp_path / 'x.onnx')
    ])
    assert code == 1
    assert 'is also the held-out test list' in capsys.readouterr().err


def test_keeps_an_existing_output(deployed, tmp_path, capsys):
    out = tmp_path / 'model.int8.onnx'
    out.write_text('mine')
    assert quantize(deployed, out) == 1
    assert out.read_text() == 'mine'
    assert 'pass --overwrite' in capsys.readouterr().err



@pytest.fixture(scope='module')
def online_deployed(deployed, tmp_path_factory):
    """The deployed config with causal TAMs, a checkpoint of random
    weights and its fp32 step file (``export_onnx.py --online``'s)."""
    from mmblvnet.apis.online import OnlineRecognizer, export_step_onnx
    root = tmp_path_factory.mktemp('online')
    config, model = random_model_files(
        root, f'_base_ = [{str(deployed["root"] / "base.py")!r}]\n'
        'model = dict(backbone=dict(tam_cfg=dict(causal=True)))\n',
        (8, 3, 32, 32), seed=3)
    step = root / 'step.onnx'
    export_step_onnx(OnlineRecognizer(model, window=4), (3, 32, 32),
                     str(step))
    return dict(deployed, config=str(config),
                checkpoint=str(root / 'w.pth'), onnx=str(step))


def streamed_top1(path, dataset):
    """Top-1 class of every sample of ``dataset``, its views streamed pair
    by pair through the step file ``path`` (4 pairs, window 4)."""
    from mmblvnet.apis.online import RuntimeOnlineRecognizer
    normalise = RuntimeRecognizer(path)
    stream = RuntimeOnlineRecognizer(path, window=4, average_clips=None)
    found = []
    for index in range(len(dataset)):
        clips = normalise.clips(dataset[index]['inputs'])
        stream.reset()
        for pair in clips.reshape(len(clips), 4, 2, 3, 32, 32).swapaxes(0, 1):
            logits = stream.step(pair)
        found.append(int(logits.mean(0).argmax()))
    return np.array(found)


def test_online_writes_an_int8_step_file_checked_on_streamed_clips(
        online_deployed, tmp_path, capsys):
    out = tmp_path / 'step.int8.onnx'
    code = quantize(online_deployed, out, '--online', '--max-drop', '100',
                    '--min-agreement', '0')
    text = capsys.readouterr().out
    assert code == 0, text
    model = onnx.load(str(out))
    assert model.graph.input[0].name == 'pair'
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops['QuantizeLinear'] > 50 and ops['DequantizeLinear'] > 50
    assert re.search(r'step.onnx vs PyTorch on the first test clip: max abs '
                     r'diff', text), text
    assert 'streamed pair by pair' in text
    # The printed numbers are those of the two files streamed pair by pair.
    found = re.search(CHECK_LINE, text)
    assert found, text
    dataset = list_dataset(tool.Config.fromfile(online_deployed['config']),
                           online_deployed['val_list'])
    truth = np.array([dataset.get_data_info(i)['label']
                      for i in range(len(dataset))])
    fp32 = streamed_top1(online_deployed['onnx'], dataset)
    int8 = streamed_top1(str(out), dataset)
    assert int(found[1]) == len(truth) == 6
    assert float(found[2]) == pytest.approx(
        100 * (fp32 == truth).mean(), abs=0.01)
    assert float(found[3]) == pytest.approx(
        100 * (int8 == truth).mean(), abs=0.01)
    assert float(found[5]) == pytest.approx(
        100 * (fp32 == int8).mean(), abs=0.01)


@pytest.mark.slow
def test_online_refuses_a_step_file_that_fails_the_check(
        online_deployed, tmp_path, capsys):
    out = tmp_path / 'step.int8.onnx'
    code = quantize(online_deployed, out, '--online', '--min-agreement',
                    '100.5', '--max-drop', '100')
    err = capsys.readouterr().err
    assert code == 1
    assert list(tmp_path.iterdir()) == []
    assert re.search(r'^error: .*step.int8.onnx: not written: top-1 '
                     r'agreement \S+% < 100.5%', err, flags=re.M), err


@pytest.mark.parametrize('online', [True, False])
def test_a_file_of_the_other_kind_is_refused_naming_the_flag(
        deployed, online_deployed, online, tmp_path, capsys):
    # --online with a clip file, or a step file without --online.
    files, other = ((online_deployed, deployed) if online else
                    (deployed, online_deployed))
    code = quantize(dict(files, onnx=other['onnx']), tmp_path / 'x.onnx',
                    *(('--online', ) if online else ()))
    err = capsys.readouterr().err
    assert code == 1 and list(tmp_path.iterdir()) == []
    assert re.fullmatch(r'error: .*\.onnx: .*--online\n', err), err


def test_online_refuses_a_model_with_offline_tams(deployed, online_deployed,
                                                  tmp_path, capsys):
    code = quantize(dict(deployed, onnx=online_deployed['onnx']),
                    tmp_path / 'x.onnx', '--online')
    err = capsys.readouterr().err
    assert code == 1 and list(tmp_path.iterdir()) == []
    assert re.fullmatch(r'error: online recognition needs causal TAMs .*\n',
                        err), err
