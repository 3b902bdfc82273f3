"""tools/demo.py: top-k labels of a real video through MMAction2's API,
the labelled output video, the sliding-window mode and its errors."""
import re
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import SMALL_CONFIG, load_tool, random_model_files, run

from mmblvnet.apis.stream import VideoSource, sliding_windows
from mmblvnet.datasets.synthetic import render_clip, write_video

NUM_CLASSES = 5  # of SMALL_CONFIG

# The same model on a frame-folder pipeline, as the Something-Something v1
# configs have it.
RAWFRAMES_CONFIG = SMALL_CONFIG.replace(
    "    dict(type='DecordInit'),\n", '').replace('DecordDecode',
                                                 'RawFrameDecode')

demo = load_tool('tools/demo.py')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Configs, a checkpoint of random weights and a 16-frame video."""
    root = tmp_path_factory.mktemp('demo')
    random_model_files(root, SMALL_CONFIG, (4, 3, 64, 64))
    (root / 'rawframes.py').write_text(RAWFRAMES_CONFIG)
    frames = np.random.default_rng(0).integers(
        0, 256, (16, 64, 64, 3), dtype=np.uint8)
    write_video(str(root / 'clip.mp4'), frames)
    return root


def demo_args(files, *options, video=None, config='small.py'):
    video = files / 'clip.mp4' if video is None else video
    return [str(video), str(files / config), str(files / 'w.pth'), *options]


def call(files, *options, **kwargs):
    """``tools/demo.py`` in this process; returns its exit status."""
    return demo.main(demo_args(files, *options, **kwargs))


def predictions(text):
    return re.findall(r'^(\S+): (\d\.\d{4})$', text, flags=re.M)


def test_prints_exactly_k_class_indices_best_first(files, capsys):
    assert call(files, '--top-k', '3') == 0
    out = capsys.readouterr().out
    found = predictions(out)
    assert len(found) == 3 == len(out.splitlines())
    assert {index for index, _ in found} <= set('01234')
    scores = [float(score) for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]  # random weights, not a uniform output


def test_label_map_names_the_classes(files, tmp_path, capsys):
    names = ['push', 'pull', 'lift', 'drop', 'spin']
    label_map = tmp_path / 'labels.txt'
    label_map.write_text('\n'.join(names) + '\n\n')
    assert call(files, '--label-map', str(label_map)) == 0
    found = predictions(capsys.readouterr().out)
    assert len(found) == 5 and {name for name, _ in found} == set(names)


def test_frame_folder_config_reads_the_video_file(files, capsys):
    assert call(files, '--top-k', '2', config='rawframes.py') == 0
    assert len(predictions(capsys.readouterr().out)) == 2


def bad_video(files, tmp_path, kind):
    """The video missing, empty, cut in half or replaced by garbage.

    (Damaged frame data behind an intact header is left out: ffmpeg
    conceals some such damage, so whether decoding fails varies.)
    """
    video = tmp_path / f'{kind}.mp4'
    data = (files / 'clip.mp4').read_bytes()
    if kind == 'cut':
        video.write_bytes(data[:len(data) // 2])
    elif kind == 'garbage':
        video.write_bytes(b'not a video' * 100)
    elif kind == 'empty':
        video.write_bytes(b'')
    return video


# A file decord cannot open is worded as in the data sets' errors
# (mmblvnet.datasets.pipeline.failure_reason).
UNDECODABLE = 'DecordInit failed (truncated, corrupt or not a video): '


@pytest.mark.parametrize('kind,reason', [
    ('missing', 'no such video file'),
    ('empty', 'the file is empty'),
    ('cut', UNDECODABLE),
    ('garbage', UNDECODABLE),
])
def test_bad_video_is_an_error_naming_file_and_reason(
        files, tmp_path, capsys, kind, reason):
    video = bad_video(files, tmp_path, kind)
    assert call(files, video=video) == 1
    captured = capsys.readouterr()
    assert captured.out == ''
    assert captured.err.startswith(f'error: {video}: {reason}')


def test_command_prints_only_k_lines_and_exits_1_on_a_bad_video(
        files, tmp_path):
    tool = [sys.executable, 'tools/demo.py']
    result = run([*tool, *demo_args(files, '--top-k', '2')])
    assert result.returncode == 0, result.stderr
    assert len(predictions(result.stdout)) == 2
    assert len(result.stdout.splitlines()) == 2  # logs go to stderr
    video = bad_video(files, tmp_path, 'garbage')
    result = run([*tool, *demo_args(files, video=video)])
    assert result.returncode == 1
    assert result.stdout == ''
    assert f'error: {video}: {UNDECODABLE}' in result.stderr
    assert 'Traceback' not in result.stderr


def test_label_map_of_other_length_is_refused(files, tmp_path, capsys):
    label_map = tmp_path / 'labels.txt'
    label_map.write_text('a\nb\n')
    assert call(files, '--label-map', str(label_map)) == 1
    assert (f'{label_map} names 2 classes but the model has num_classes=5'
            in capsys.readouterr().err)


def test_checkpoint_of_other_classes_is_refused_with_the_hint(files, capsys):
    assert call(files, '--cfg-options',
                'model.cls_head.num_classes=7') == 1
    err = capsys.readouterr().err
    assert 'nothing was loaded' in err
    assert '--cfg-options model.cls_head.num_classes=5' in err


def test_pipeline_sampling_other_than_num_segments_is_refused(files,
                                                              capsys):
    assert call(files, '--cfg-options',
                'test_pipeline.1.num_clips=8') == 1
    assert ('num_segments=4, but test_pipeline[1] (SampleFrames) samples '
            'num_clips=8 x clip_len=1 = 8 frames per view'
            in capsys.readouterr().err)


def test_uniform_sample_other_than_num_segments_is_refused(files, capsys):
    assert call(files, '--cfg-options', 'test_pipeline.1.type=UniformSample',
                'test_pipeline.1.clip_len=8') == 1
    assert ('test_pipeline[1] (UniformSample) samples clip_len=8 frames '
            'per view' in capsys.readouterr().err)


def test_top_k_below_one_is_refused(files, capsys):
    assert call(files, '--top-k', '0') == 1
    assert '--top-k must be at least 1, got 0' in capsys.readouterr().err


# --- labelled video, sliding windows, damaged checkpoints --------------


@pytest.fixture(scope='module')
def long_video(files):
    """Three generated 16-frame clips in a row: 48 frames, 6 s at 8 fps."""
    rng = np.random.default_rng(1)
    frames = np.concatenate(
        [render_clip(label, rng, num_frames=16, size=32) for label in (0, 1,
                                                                       2)])
    path = files / 'long.mp4'
    write_video(str(path), frames, fps=8)
    return path


def read_frames(path):
    return np.stack(list(VideoSource(str(path))))


def test_out_filename_writes_the_video_with_the_labels_drawn(
        files, tmp_path, capsys):
    out = tmp_path / 'labelled.mp4'
    assert call(files, '--top-k', '2', '--out-filename', str(out)) == 0
    assert len(predictions(capsys.readouterr().out)) == 2
    source, drawn = read_frames(files / 'clip.mp4'), read_frames(out)
    assert len(drawn) == len(source) == 16
    assert drawn.shape[1:3] == (256, 256)  # 64 px enlarged for the text
    plain = np.stack([cv2.resize(frame, (256, 256)) for frame in source])
    # The labels sit top left on a dark box; the rest is the video.
    box = np.abs(drawn[:, :60, :120].astype(int) - plain[:, :60, :120])
    rest = np.abs(drawn[:, 160:, 160:].astype(int) - plain[:, 160:, 160:])
    assert box.mean() > 4 * rest.mean()


def test_window_mode_prints_one_line_per_window_and_the_real_time_factor(
        files, long_video, tmp_path, capsys):
    out = tmp_path / 'windows.mp4'
    assert call(files, '--window', '2', '--stride', '1', '--out-filename',
                str(out), video=long_video) == 0
    lines = capsys.readouterr().out.splitlines()
    windows = [re.fullmatch(r'(\d+\.\d\d)-(\d+\.\d\d): ([0-4]) (\d\.\d{4})',
                            line) for line in lines[:-1]]
    assert all(windows), lines
    spans = [(float(w[1]), float(w[2])) for w in windows]
    assert spans == [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
    assert re.fullmatch(r'real-time factor: \d+\.\d\d \(.* for 6\.0 s of '
                        r'video at 8 fps\)', lines[-1])
    assert len(read_frames(out)) == 48


def test_sliding_windows_cover_every_frame_once():
    windows = list(sliding_windows(range(11), window=4, stride=3))
    assert [(w.start, w.frames) for w in windows[:-1]] == [
        (0, [0, 1, 2, 3]), (3, [3, 4, 5, 6]), (6, [6, 7, 8, 9])]
    # Frame 10 comes after the last window: an empty window carries it.
    assert windows[-1].frames == [] and windows[-1].new_frames == [10]
    assert sum((w.new_frames for w in windows), []) == list(range(11))
    short = list(sliding_windows(range(3), window=4, stride=2))
    assert [(w.start, w.frames, w.new_frames) for w in short] == [
        (0, [0, 1, 2], [0, 1, 2])]


def test_window_mode_names_a_source_opencv_cannot_open(files, tmp_path,
                                                       capsys):
    video = bad_video(files, tmp_path, 'garbage')
    assert call(files, '--window', '1', video=video) == 1
    assert capsys.readouterr().err.startswith(
        f'error: {video}: OpenCV cannot open it')


@pytest.mark.parametrize('kind,reason', [
    ('missing', 'no such checkpoint file'),
    ('empty', 'the file is empty (0 bytes)'),
    ('truncated', 'not a PyTorch checkpoint or truncated'),
    ('tensor', 'holds a Tensor, not a checkpoint'),
])
def test_bad_checkpoint_is_one_error_line(files, tmp_path, capsys, kind,
                                          reason):
    checkpoint = tmp_path / f'{kind}.pth'
    if kind == 'empty':
        checkpoint.write_bytes(b'')
    elif kind == 'truncated':
        data = (files / 'w.pth').read_bytes()
        checkpoint.write_bytes(data[:len(data) // 2])
    elif kind == 'tensor':
        torch.save(torch.zeros(3), checkpoint)
    args = demo_args(files)
    args[2] = str(checkpoint)
    assert demo.main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ''
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f'error: {checkpoint}: ')
    assert reason in captured.err
