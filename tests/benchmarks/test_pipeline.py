"""python -m benchmarks.pipeline: both decoders on the same videos
through a real DataLoader, the models beside them, JSON and Markdown."""
import json
import sys

import pytest
from helpers import REPO, output, run

from benchmarks import pipeline as bench

CONFIG = str(REPO / 'configs' / 'blvnet_tam_r50_8x.py')


def test_quick_bench_reports_both_decoders_models_and_workers(
        styled_root, tmp_path):
    videos = [f'{styled_root}/{style}/list_videos.txt:'
              f'{styled_root}/{style}/videos' for style in ('kinetics',
                                                            'sthv2')]
    result = run([sys.executable, '-m', 'benchmarks.pipeline',
                  CONFIG, '--quick', '--workers', '1', '--videos', *videos,
                  '--out-dir', str(tmp_path)])
    assert result.returncode == 0, output(result)
    report = json.loads((tmp_path / 'bench_pipeline.json').read_text())
    rows = report['pipelines']
    assert [(r['videos'], r['decoder']) for r in rows] == [
        (videos[0], 'stock'), (videos[0], 'torchcodec'),
        (videos[1], 'stock'), (videos[1], 'torchcodec')]
    for row in rows:
        assert row['same_frames'] is True
        # 16 sampled frames of 75 (Kinetics) or 24 (SSv2), one keyframe:
        # everything up to the last sampled frame is decoded.
        assert 16 <= row['frames_to_decode'] <= 75
        assert row['clips_per_s_per_worker'] > 0
        prefix = 'Decord' if row['decoder'] == 'stock' else 'TorchCodec'
        assert list(row['transforms_ms'])[:3] == [
            f'0 {prefix}Init', '1 SampleFrames', f'2 {prefix}Decode']
        assert set(row['workers_needed']) == {'blvnet', 'tsm'}
        assert all(n >= 1 for n in row['workers_needed'].values())
    assert set(report['models']) == {'blvnet', 'tsm'}
    assert all(rates['train_clips_per_s'] > 0
               for rates in report['models'].values())
    markdown = (tmp_path / 'bench_pipeline.md').read_text()
    assert '| bLVNet-TAM-50 2x2 |' in markdown and '| TSM-R50 4f |' in markdown
    assert markdown in result.stdout
    assert '--quick: a smoke test' in markdown


def test_swap_decoder_replaces_only_the_decord_pair():
    pipeline = [dict(type='DecordInit', io_backend='disk'),
                dict(type='SampleFrames', clip_len=1, num_clips=8),
                dict(type='DecordDecode'), dict(type='Resize', scale=(-1, 8))]
    swapped = bench.swap_decoder(pipeline, 'torchcodec')
    assert [t['type'] for t in swapped] == [
        'TorchCodecInit', 'SampleFrames', 'TorchCodecDecode', 'Resize']
    assert swapped[0]['io_backend'] == 'disk'
    assert pipeline[0]['type'] == 'DecordInit'


def test_a_missing_video_list_is_one_error_line(tmp_path, capsys):
    absent = tmp_path / 'absent.txt'
    argv = [CONFIG, '--quick', '--videos', str(absent), '--out-dir',
            str(tmp_path)]
    assert bench.main(argv) == 1
    err = capsys.readouterr().err
    assert err == (f'error: --videos {absent}: no list file {absent}\n')
    with pytest.raises(ValueError, match='no list file'):
        bench.main([*argv, '--debug'])
