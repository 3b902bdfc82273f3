"""benchmarks/online.py: a smoke run prints a row per runtime and
precision with the step / window ratio."""
import re

import pytest

from benchmarks import online


@pytest.mark.slow
def test_quick_run_reports_every_runtime_and_precision(capsys):
    assert online.main(['--quick', '--size', '32', '--frames', '4',
                        '--batch-sizes', '1', '2', '--num-classes',
                        '3', '--video-seconds', '0']) == 0
    rows = re.findall(r'^\| (\w+) \| (fp32|int8) \| [\d.]+ ms \| [\d.]+ ms '
                      r'\| [\d.]+x \| [\d.]+ \| [\d.]+ \|$',
                      capsys.readouterr().out, flags=re.M)
    assert rows == [('pytorch', 'fp32'), ('onnxruntime', 'fp32'),
                    ('onnxruntime', 'int8'), ('openvino', 'fp32'),
                    ('openvino', 'int8')]
