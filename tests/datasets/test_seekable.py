"""Issue 26: the frames a decoder must decode to reach sampled frames,
from a video's keyframes; per-transform times of the transform runner."""
import numpy as np

from mmblvnet.datasets.pipeline import run_transforms
from mmblvnet.datasets.seekable import (
    codec_args,
    frames_to_decode,
    keyframe_indices,
)
from mmblvnet.datasets.video_styles import STYLES, encode_video, render_frames


def test_frames_to_decode_is_the_union_of_keyframe_to_frame_runs():
    keyframes = np.array([0, 8, 16])
    # {0..3} + {8, 9} + {16..20}; a repeated index costs nothing more
    assert frames_to_decode(keyframes, [3, 9, 9, 20]) == 11
    assert frames_to_decode(np.arange(30), [3, 9, 20]) == 3


def test_keyframes_of_long_gop_and_re_encoded_videos(styled_root, tmp_path):
    assert keyframe_indices(
        str(styled_root / 'kinetics/videos/00000.mp4')).tolist() == [0]
    frames = render_frames(0, 0, STYLES['kinetics'].scaled(0.2))
    path = str(tmp_path / 'gop8.mp4')
    encode_video(frames, path, 30, codec_args(path, 8, None))
    assert keyframe_indices(path).tolist() == list(range(0, 60, 8))


def test_run_transforms_records_each_transforms_time_in_order():
    def add_one(results):
        return dict(results, value=results['value'] + 1)

    seconds = []
    results = run_transforms([add_one, add_one, add_one], dict(value=0),
                             seconds)
    assert results['value'] == 3
    assert len(seconds) == 3 and all(s >= 0 for s in seconds)
