"""benchmarks/int8_weight_bits.py: its comparison file has 8-bit weights,
the kind quantize_int8 refuses to write."""
import numpy as np
import onnx
import pytest
from int8_saturation import SATURATING_INPUT, saturating_conv

from benchmarks.int8_weight_bits import quantize_8bit
from mmblvnet.apis.quantize import check_no_saturation


def test_the_8bit_file_is_the_one_quantize_int8_refuses(tmp_path):
    fp32 = saturating_conv(tmp_path / 'fp32.onnx')
    out = str(tmp_path / 'int8.onnx')
    quantize_8bit(fp32, out, iter([np.ones(SATURATING_INPUT, np.float32)]))
    with pytest.raises(ValueError, match=r'\(\|w\| up to 127\)'):
        check_no_saturation(onnx.load(out), out)
