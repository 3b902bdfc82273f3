"""benchmarks.keyframes: the frames a decoder must decode to reach sampled
frames, from a video's keyframes."""
import numpy as np

from benchmarks.keyframes import frames_to_decode, keyframe_indices
from benchmarks.video_styles import STYLES, encode_video, render_frames
from tools.data.seekable import codec_args


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
