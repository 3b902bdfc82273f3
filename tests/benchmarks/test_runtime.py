"""python -m benchmarks.runtime: both models in every runtime, one
process, fp32 exports checked, a ratio in every cell."""
import re
import sys

import pytest
from helpers import output, run

from benchmarks import runtime as tool

RUNTIMES = tool.RUNTIMES


@pytest.mark.slow
def test_quick_run_times_every_runtime_with_ratios(tmp_path, capsys):
    out = tmp_path / 'report.md'
    assert tool.main(['--quick', '--size', '32', '--frames', '4',
                      '--batch-sizes', '1', '--num-classes', '5',
                      '--calib-clips', '1', '--profile', '--out',
                      str(out)]) == 0
    report = out.read_text()
    assert capsys.readouterr().out.strip() == report.strip()
    header = '| model | batch | ' + ' | '.join(RUNTIMES) + ' |'
    assert header in report
    rows = re.findall(r'^\| (bLVNet-TAM-50 2x2|TSM-R50 4f) \| 1 \|(.*)\|$',
                      report, flags=re.M)
    assert [name for name, _ in rows] == ['bLVNet-TAM-50 2x2', 'TSM-R50 4f']
    for name, cells in rows:
        cells = cells.split('|')
        assert len(cells) == len(RUNTIMES)
        ratio = (r'\d+ ms \(\d+\.\d\dx eager, \d+\.\d\dx TSM\)'
                 if name.startswith('bLVNet') else r'\d+ ms \(\d+\.\d\dx '
                 r'eager\)')
        for cell in cells:
            assert re.fullmatch(ratio, cell.strip()), cell
        assert '(1.00x eager' in cells[0]  # PyTorch eager itself
    # The fp32 exports give PyTorch's logits in both runtimes.
    for line in re.findall(r'vs PyTorch .*: (.*)$', report, flags=re.M):
        diffs = dict(part.split() for part in line.split(', '))
        assert set(diffs) == set(RUNTIMES[1:])
        assert float(diffs['ort-fp32']) <= 1e-4
        assert float(diffs['openvino-fp32']) <= 1e-4
    assert 'ORT int8 bLVNet b1 <= 0.5x its PyTorch eager' in report
    # --profile: both models' kernel time per op type, per ORT precision.
    for precision in ('fp32', 'int8'):
        assert (f'ONNX Runtime {precision} kernel time per run by op type, '
                'b1 (x: of TSM):') in report
    assert re.search(r'^\| op type \| bLVNet-TAM-50 2x2 \| TSM-R50 4f \|$',
                     report, flags=re.M)
    assert len(re.findall(r'^\| \*\*convolutions\*\* \| [\d.]+ ms '
                          r'\([\d.]+x\) \| [\d.]+ ms \|$', report,
                          flags=re.M)) == 2
    assert re.search(r'^\| QLinearConv \|', report, flags=re.M)


def test_runtimes_must_include_pytorch(capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(['--runtimes', 'ort-fp32'])
    assert 'must include pytorch' in capsys.readouterr().err


def test_a_subset_of_runtimes_gets_its_own_columns():
    # In a process of its own: OpenVINO's thread pool stays out of the
    # test process (with it loaded, a later test of the full suite died
    # of SIGSEGV while waiting for a subprocess).
    result = run([sys.executable, '-m', 'benchmarks.runtime',
                  '--quick', '--size', '32', '--frames', '2',
                  '--batch-sizes', '1', '--num-classes', '3',
                  '--runtimes', 'pytorch', 'openvino-fp32'])
    assert result.returncode == 0, output(result)
    assert '| model | batch | pytorch | openvino-fp32 |' in result.stdout
    assert 'ort-int8' not in result.stdout
