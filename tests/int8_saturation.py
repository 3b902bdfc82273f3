"""A one-layer int8 convolution built to saturate x86 kernels without
VNNI, and its outputs in each runtime.

Imported by test_quantize.py, and run as a script there under an emulated
CPU (it imports no torch or mmblvnet, so it starts fast under emulation):
``python int8_saturation.py MODEL.int8.onnx`` prints the outputs as one
JSON line.
"""
import json
import platform
import sys

import numpy as np
import onnx

INPUT_NAME = 'clips'  # mmblvnet.apis.export.INPUT_NAME, read by quantize_int8
SATURATING_INPUT = (1, 64, 4, 4)


def saturating_conv(path) -> str:
    """A 1x1 convolution of 64 channels of ones by weights of one: every
    output is 64.0. Calibrated on ones, its int8 activations are 255 and
    its weights the largest int8 value the quantizer writes, so the 16-bit
    sum of two products of a kernel without VNNI saturates unless the
    weights are at most 64."""
    from onnx import TensorProto, helper, numpy_helper
    channels = SATURATING_INPUT[1]
    weight = np.ones((1, channels, 1, 1), np.float32)
    graph = helper.make_graph(
        [helper.make_node('Conv', [INPUT_NAME, 'weight'], ['sum'])], 'conv',
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                       SATURATING_INPUT)],
        [helper.make_tensor_value_info('sum', TensorProto.FLOAT,
                                       (1, 1, *SATURATING_INPUT[2:]))],
        [numpy_helper.from_array(weight, 'weight')])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid('', 17)])
    onnx.save(model, str(path))
    return str(path)


def run_saturating_conv(path: str) -> dict:
    """Output of the int8 ``saturating_conv`` on ones: fused by ONNX
    Runtime and OpenVINO, unfused (dequantize, float conv, quantize) by
    ONNX Runtime, and the output's quantization step."""
    import onnxruntime
    import openvino
    from onnx import numpy_helper
    model = onnx.load(path)
    ones = np.ones(SATURATING_INPUT, np.float32)
    outputs = {}
    for name, level in (('onnxruntime', 'ORT_ENABLE_ALL'),
                        ('unfused', 'ORT_DISABLE_ALL')):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(
            onnxruntime.GraphOptimizationLevel, level)
        session = onnxruntime.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
        outputs[name] = float(session.run(None, {INPUT_NAME: ones})[0].max())
    compiled = openvino.Core().compile_model(
        path, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    outputs['openvino'] = float(compiled({INPUT_NAME: ones})[0].max())
    last = next(node for node in model.graph.node
                if node.output[0] == model.graph.output[0].name)
    scale = next(t for t in model.graph.initializer
                 if t.name == last.input[1])
    outputs['output step'] = float(numpy_helper.to_array(scale))
    return outputs


def cpu_description() -> str:
    """The CPU's model name and its SIMD flags (x86: SSE4, AVX*, AMX*)."""
    try:
        with open('/proc/cpuinfo') as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(':', 1) for line in info.splitlines()
                  if ':' in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    simd = sorted(flag for flag in fields.get('flags', '').split()
                  if flag.startswith(('sse4', 'avx', 'amx')))
    return f'{fields.get("model name", "unknown CPU")}, flags {simd}'


if __name__ == '__main__':
    print(json.dumps(run_saturating_conv(sys.argv[1])))
