"""Videos encoded as Kinetics, Something-Something v2 and v1
store them (codec, container, frame rate, keyframe spacing, layout), from
scenes that code like real footage."""
import json
import subprocess

import numpy as np
import pytest

from benchmarks.scenes import render_scene
from benchmarks.video_styles import (
    STYLES,
    generate_styled,
    render_frames,
)
from tools.data.seekable import reencode


def probe(path):
    """Codec, size, frame rate and keyframe count of a video (ffprobe)."""
    stream = json.loads(subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
         'stream=codec_name,width,height,r_frame_rate', '-of', 'json',
         str(path)], capture_output=True, check=True).stdout)['streams'][0]
    frames = json.loads(subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
         'frame=key_frame', '-of', 'json', str(path)],
        capture_output=True, check=True).stdout)['frames']
    return stream, len(frames), sum(f['key_frame'] for f in frames)


def test_kinetics_style_is_long_gop_h264_mp4(styled_root):
    stream, num_frames, keyframes = probe(
        styled_root / 'kinetics/videos/00000.mp4')
    assert (stream['codec_name'], stream['width'], stream['height'],
            stream['r_frame_rate']) == ('h264', 86, 64, '30/1')
    assert num_frames == 75 and keyframes == 1
    assert (styled_root / 'kinetics/list_videos.txt').read_text() == (
        '00000.mp4 0\n00001.mp4 1\n')


def test_sthv2_style_is_vp9_webm_at_12_fps(styled_root):
    stream, num_frames, _ = probe(styled_root / 'sthv2/videos/00001.webm')
    assert (stream['codec_name'], stream['width'], stream['height'],
            stream['r_frame_rate']) == ('vp9', 214, 120, '12/1')
    assert num_frames == 24


def test_sthv1_style_is_jpeg_folders_listed_with_frame_counts(styled_root):
    folder = styled_root / 'sthv1/rawframes/00000'
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == '00001.jpg' and names[-1] == '00024.jpg'
    assert len(names) == 24
    assert (styled_root / 'sthv1/list_rawframes.txt').read_text() == (
        '00000 24 0\n00001 24 1\n')


def test_full_size_styles_are_the_data_sets_sizes():
    sizes = {name: (s.width, s.height, s.fps, s.num_frames)
             for name, s in STYLES.items()}
    assert sizes['kinetics'] == (340, 256, 30, 300)
    assert sizes['sthv2'] == (426, 240, 12, 48)
    assert sizes['sthv1'] == (176, 100, 12, 48)


def test_render_frames_is_a_scene_of_the_style_size():
    frames = render_frames(3, 0, STYLES['sthv1'].scaled(0.5))
    assert frames.shape == (24, 50, 88, 3)
    assert frames.flags['C_CONTIGUOUS']


def test_scene_of_the_second_class_of_a_pair_is_the_first_backwards():
    forward = render_scene(4, np.random.default_rng(7), 12, 64, 48)
    backward = render_scene(5, np.random.default_rng(7), 12, 64, 48)
    np.testing.assert_array_equal(backward, forward[::-1])


def test_scene_changes_everywhere_from_frame_to_frame():
    """Camera motion moves the whole background, not only the objects."""
    frames = render_scene(0, np.random.default_rng(0), 8, 96, 64)
    change = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(-1)
    assert (change > 4).mean() > 0.3


@pytest.mark.slow
def test_kinetics_style_codes_like_a_real_kinetics_clip(tmp_path):
    """docs/data.md, "Generated test videos": a full-size Kinetics-style
    video is as large as a real 340x256 Kinetics clip (MMAction2's
    demo/demo.mp4: 636 KB for 10 s) and its all-intra copy grows a few
    times, as real footage does (demo.mp4: 3.3x), not tens of times."""
    generate_styled(str(tmp_path / 'src'), 'kinetics', 1)
    source = tmp_path / 'src/videos/00000.mp4'
    assert 400e3 < source.stat().st_size < 1.5e6
    copy = reencode(dict(video='00000.mp4', src=str(source),
                         dst=str(tmp_path / 'intra.mp4'), gop=1, crf=None,
                         frames=False))
    assert 2 < copy['dst_bytes'] / copy['src_bytes'] < 6


def test_an_interrupted_run_resumes_without_re_encoding(tmp_path):
    list_file = generate_styled(str(tmp_path), 'kinetics', 1, scale=0.2)
    video = tmp_path / 'videos/00000.mp4'
    before = video.stat().st_mtime_ns
    generate_styled(str(tmp_path), 'kinetics', 2, scale=0.2)
    assert video.stat().st_mtime_ns == before
    assert open(list_file).read() == '00000.mp4 0\n00001.mp4 1\n'


def test_unknown_style_is_named():
    with pytest.raises(ValueError, match=r"style='ucf'; choose one of"):
        generate_styled('unused', 'ucf', 1)
