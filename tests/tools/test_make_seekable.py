"""tools/data/make_seekable.py on generated Kinetics- and SSv2-style
videos: same names, frame counts and sizes, keyframes only, PSNR checked,
resumable, the source never written."""
import hashlib
import json
import subprocess

import pytest
from helpers import load_tool


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/data/make_seekable.py')


def picture_types(path):
    return subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
         'frame=pict_type', '-of', 'csv=p=0', str(path)], capture_output=True,
        check=True, text=True).stdout.replace(',', '').split()


# The 86x64 Kinetics-style test videos pack a scene's detail into few
# pixels: the default H.264 CRF (17, above 40 dB on full-size videos and on
# MMAction2's demo.mp4) gives 38-40 dB there, CRF 14 above 40.
SMALL_H264 = ['--crf', '14']


def digests(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest()
            for p in folder.iterdir()}


@pytest.mark.parametrize('style, extension, options',
                         [('kinetics', 'mp4', SMALL_H264),
                          ('sthv2', 'webm', [])])
def test_all_intra_copy_keeps_names_frames_and_psnr(tool, styled_root,
                                                    tmp_path, capsys, style,
                                                    extension, options):
    src = styled_root / style / 'videos'
    before = digests(src)
    dst = tmp_path / 'seekable'
    status = tool.main([str(styled_root / style / 'list_videos.txt'),
                        str(src), str(dst), '--jobs', '2', *options])
    assert status == 0
    assert digests(src) == before
    for name in before:
        types = picture_types(dst / name)
        assert types == ['I'] * len(picture_types(src / name))
    log = [json.loads(line)
           for line in (dst / 'make_seekable.jsonl').read_text().splitlines()]
    assert sorted(r['video'] for r in log) == [f'00000.{extension}',
                                               f'00001.{extension}']
    assert all(r['psnr'] >= 40 for r in log)
    printed = capsys.readouterr().out
    assert printed.startswith(f'2 videos (0 from an earlier run) in {dst}: '
                              'size x')
    assert f"data_prefix=dict(video='{dst}')" in printed


def test_a_second_run_resumes_and_re_encodes_nothing(tool, styled_root,
                                                     tmp_path, capsys):
    args = [str(styled_root / 'kinetics/list_videos.txt'),
            str(styled_root / 'kinetics/videos'), str(tmp_path / 'out'),
            '--gop', '8', *SMALL_H264]
    assert tool.main(args) == 0
    first = digests(tmp_path / 'out')
    mtimes = {p.name: p.stat().st_mtime_ns
              for p in (tmp_path / 'out').iterdir()}
    capsys.readouterr()
    assert tool.main(args) == 0
    assert capsys.readouterr().out.startswith('2 videos (2 from an earlier '
                                              'run)')
    assert digests(tmp_path / 'out') == first
    assert {p.name: p.stat().st_mtime_ns
            for p in (tmp_path / 'out').iterdir()} == mtimes
    types = picture_types(tmp_path / 'out/00000.mp4')
    assert [i for i, t in enumerate(types) if t == 'I'] == list(
        range(0, len(types), 8))


def test_destination_inside_the_source_is_refused(tool, styled_root,
                                                  capsys):
    src = styled_root / 'kinetics' / 'videos'
    status = tool.main([str(styled_root / 'kinetics/list_videos.txt'),
                        str(src), str(src / 'seekable')])
    assert status == 1  # a user error, as in every tool
    assert 'overlap; choose a destination outside the source' in (
        capsys.readouterr().err)
    assert not (src / 'seekable').exists()


def test_unreadable_video_is_named_and_fails_the_run(tool, tmp_path,
                                                     capsys):
    (tmp_path / 'src').mkdir()
    (tmp_path / 'src/bad.mp4').write_text('not a video')
    (tmp_path / 'list.txt').write_text('bad.mp4 0\n')
    status = tool.main([str(tmp_path / 'list.txt'), str(tmp_path / 'src'),
                        str(tmp_path / 'dst')])
    assert status == 1
    assert f"error: {tmp_path / 'src/bad.mp4'}: ffmpeg" in (
        capsys.readouterr().err)
    assert not (tmp_path / 'dst/bad.mp4').exists()


def test_the_same_list_reads_the_copy_with_both_decoders(tool, styled_root,
                                                         tmp_path):
    from helpers import PIPELINE
    from mmaction.registry import DATASETS
    list_file = str(styled_root / 'kinetics/list_videos.txt')
    assert tool.main([list_file, str(styled_root / 'kinetics/videos'),
                      str(tmp_path / 'out'), *SMALL_H264]) == 0
    inputs = {}
    for init, decode in (('DecordInit', 'DecordDecode'),
                         ('TorchCodecInit', 'TorchCodecDecode')):
        pipeline = [dict(t) for t in PIPELINE]
        pipeline[0]['type'], pipeline[2]['type'] = init, decode
        pipeline[1]['test_mode'] = True  # the same indices for both
        data = DATASETS.build(dict(
            type='VideoDataset', ann_file=list_file, test_mode=True,
            data_prefix=dict(video=str(tmp_path / 'out')), pipeline=pipeline))
        inputs[init] = data[1]['inputs']
    assert inputs['DecordInit'].shape == (8, 3, 64, 86)
    assert inputs['DecordInit'].equal(inputs['TorchCodecInit'])


def test_frame_folders_hold_every_frame_and_their_list_loads(
        tool, styled_root, tmp_path, capsys):
    """--frames: JPEG folders as RawframeDataset reads them, their list,
    the PSNR check, and a second run that writes nothing again."""
    from helpers import PIPELINE
    from mmaction.registry import DATASETS
    args = [str(styled_root / 'kinetics/list_videos.txt'),
            str(styled_root / 'kinetics/videos'), str(tmp_path / 'out'),
            '--frames']
    assert tool.main(args) == 0
    frame_list = tmp_path / 'out/list_rawframes.txt'
    assert frame_list.read_text() == '00000 75 0\n00001 75 1\n'
    names = sorted(p.name for p in (tmp_path / 'out/00000').iterdir())
    assert names[0] == 'img_00001.jpg' and names[-1] == 'img_00075.jpg'
    log = [json.loads(line) for line in
           (tmp_path / 'out/make_seekable.jsonl').read_text().splitlines()]
    assert all(r['psnr'] >= 40 for r in log)
    mtimes = {p: p.stat().st_mtime_ns
              for p in (tmp_path / 'out/00000').iterdir()}
    capsys.readouterr()
    assert tool.main(args) == 0
    assert capsys.readouterr().out.startswith('2 videos (2 from an earlier '
                                              'run)')
    assert {p: p.stat().st_mtime_ns
            for p in (tmp_path / 'out/00000').iterdir()} == mtimes
    pipeline = [dict(type='SampleFrames', clip_len=1, frame_interval=1,
                     num_clips=8, test_mode=True),
                dict(type='RawFrameDecode'), *PIPELINE[3:]]
    data = DATASETS.build(dict(
        type='RawframeDataset', ann_file=str(frame_list), test_mode=True,
        data_prefix=dict(img=str(tmp_path / 'out')), pipeline=pipeline))
    assert data[1]['inputs'].shape == (8, 3, 64, 86)
