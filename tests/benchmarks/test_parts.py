"""benchmarks: shared options, compared models, capacity;
benchmarks.machine."""
import argparse
from pathlib import Path

import pytest
import torch

from benchmarks.capacity import largest_batch
from benchmarks.compared_models import (
    model_labels,
    random_clips,
)
from benchmarks.machine import check_device, cpu_name
from benchmarks.options import (
    CLIP_OPTIONS,
    TIMING_OPTIONS,
    add_batch_and_output_options,
    add_int_options,
    check_timing_args,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_int_options(parser, (*CLIP_OPTIONS, *TIMING_OPTIONS))
    add_batch_and_output_options(parser, 'batch', 'out')
    return parser


def test_shared_options_defaults_and_quick():
    parser = _parser()
    args = parser.parse_args([])
    check_timing_args(parser, args)
    assert (args.frames, args.size, args.num_classes, args.repeats,
            args.warmup, args.batch_sizes, args.out) == (
                16, 224, 174, 5, 1, [1, 8], None)
    quick = parser.parse_args(['--quick', '--repeats', '9', '--warmup', '3'])
    check_timing_args(parser, quick)
    assert (quick.repeats, quick.warmup) == (1, 1)


@pytest.mark.parametrize('frames', ['0', '3'])
def test_odd_or_too_few_frames_are_refused(frames, capsys):
    parser = _parser()
    args = parser.parse_args(['--frames', frames])
    with pytest.raises(SystemExit):
        check_timing_args(parser, args)
    assert f'--frames must be even and >= 2, got {frames}' in (
        capsys.readouterr().err)


def test_labels_and_clips_of_the_compared_models():
    assert model_labels(16) == {'blvnet': 'bLVNet-TAM-50 8x2',
                                'tsm': 'TSM-R50 16f', 'tsn': 'TSN-R50 16f'}
    clips = random_clips(2, 4, 8, 'cpu', channels_last=True)
    assert clips.shape == (2, 4, 3, 8, 8)
    assert clips.flatten(0, 1).is_contiguous(
        memory_format=torch.channels_last)


@pytest.mark.parametrize('capacity', [0, 1, 5, 8, 13, 100])
def test_largest_batch_search_finds_the_capacity(capacity):
    tried = []

    def fits(batch):
        tried.append(batch)
        return batch <= capacity

    assert largest_batch(fits, limit=64) == min(capacity, 64)
    assert len(tried) <= 2 * 7 + 1


def test_cpu_name_reads_the_model_name(tmp_path, monkeypatch):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nmodel name\t: Test CPU @ 2GHz\n')
    monkeypatch.setattr('benchmarks.machine._CPUINFO', cpuinfo)
    assert cpu_name() == 'Test CPU @ 2GHz'
    monkeypatch.setattr('benchmarks.machine._CPUINFO',
                        Path(tmp_path / 'absent'))
    assert cpu_name()  # platform's name of the machine


def test_cuda_without_a_gpu_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match='run with --device cpu'):
        check_device('cuda')
    assert check_device('cpu') == torch.device('cpu')
