"""ONNX Runtime kernel time per op type, and the side-by-side table."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks.ort_profile import (
    convolution_time,
    format_profile,
    kernel_times,
)


def conv_relu_model(path, channels, size=16):
    """An ONNX file: a 3x3 convolution, ReLU, then a residual Add."""
    weight = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal(
            (channels, channels, 3, 3)).astype(np.float32), 'w')
    graph = helper.make_graph([
        helper.make_node('Conv', ['x', 'w'], ['y'], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['y'], ['r']),
        helper.make_node('Add', ['r', 'x'], ['z']),
    ], 'g', [helper.make_tensor_value_info(
        'x', TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info(
            'z', TensorProto.FLOAT, [1, channels, size, size])], [weight])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid('', 17)])
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_kernel_times_name_the_op_types_onnx_runtime_ran(tmp_path):
    path = conv_relu_model(tmp_path / 'm.onnx', 32)
    x = np.ones((1, 32, 16, 16), np.float32)
    times = kernel_times(path, {'x': x}, threads=1, runs=3)
    # Its optimiser fuses the ReLU into the convolution.
    assert convolution_time(times) > 0
    assert set(times) & {'Conv', 'FusedConv'}
    assert all(value > 0 for value in times.values())
    assert 'Relu' not in times
    assert not list(tmp_path.glob('profile*'))  # no file left behind


def test_more_channels_cost_the_convolutions_more(tmp_path):
    small = conv_relu_model(tmp_path / 'small.onnx', 8, size=32)
    large = conv_relu_model(tmp_path / 'large.onnx', 64, size=32)
    cost = {
        name: convolution_time(kernel_times(
            path, {'x': np.ones((1, channels, 32, 32), np.float32)}, 1, 5))
        for name, path, channels in (('small', small, 8),
                                     ('large', large, 64))
    }
    # 64x the multiply-adds; even a launch-bound kernel costs more.
    assert cost['large'] > 3 * cost['small']


def test_table_splits_convolutions_from_the_rest_with_ratios():
    times = {'A': {'QLinearConv': 0.040, 'QLinearMul': 0.010,
                   'Slice': 0.002},
             'B': {'QLinearConv': 0.100, 'Transpose': 0.005}}
    table = format_profile(times, 'B', top=2)
    lines = table.splitlines()
    assert lines[0] == '| op type | A | B |'
    assert lines[2] == '| QLinearConv | 40.0 ms (0.40x) | 100.0 ms |'
    assert lines[3] == '| QLinearMul | 10.0 ms | 0.0 ms |'
    assert lines[4] == '| 2 other op types | 2.0 ms (0.40x) | 5.0 ms |'
    assert '| **convolutions** | 40.0 ms (0.40x) | 100.0 ms |' in table
    assert '| **everything else** | 12.0 ms (2.40x) | 5.0 ms |' in table
    assert '| **all kernels** | 52.0 ms (0.50x) | 105.0 ms |' in table


def test_a_missing_run_is_an_error_not_a_wrong_mean(tmp_path, monkeypatch):
    from benchmarks import ort_profile
    path = conv_relu_model(tmp_path / 'm.onnx', 4)
    monkeypatch.setattr(ort_profile, '_runs_and_nodes',
                        lambda events: ([(0, 1)], []))
    with pytest.raises(RuntimeError, match=r'm\.onnx: ONNX Runtime '
                       r'profiled 1 runs, expected 3'):
        kernel_times(path, {'x': np.ones((1, 4, 16, 16), np.float32)}, 1, 2)
