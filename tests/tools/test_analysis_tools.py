"""tools/analysis/get_flops.py and profile_train_step.py."""
import pytest
import torch
from helpers import REPO, load_tool
from mmaction.registry import MODELS
from mmengine.config import Config

CONFIG = str(REPO / 'configs' / 'blvnet_tam_r50_8x.py')


def test_get_flops_of_paper_config_matches_the_paper(capsys):
    info = load_tool('tools/analysis/get_flops.py').run(
        [CONFIG, '--shape', '1', '16', '3', '224', '224', '--no-table'])
    # Paper: 24.0 GFLOPs and 25.0M parameters for bLVNet-TAM-50 8x2.
    assert abs(info['flops'] / 1e9 - 24.0) <= 0.02 * 24.0
    assert abs(info['params'] / 1e6 - 25.0) <= 0.02 * 25.0
    assert info['input_shape'] == (1, 16, 3, 224, 224)
    printed = capsys.readouterr().out
    assert 'Flops: 23.9' in printed and 'Params: 25.0' in printed


def test_profile_train_step_times_and_splits_ops_by_shape(capsys):
    """Two clips of the demo's 8 frames at 32x32: the profiled step runs
    the last stage's 3x3 convolutions on 1x1 maps as matrix products."""
    demo = str(REPO / 'configs' / 'demo' /
               'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py')
    result = load_tool('tools/analysis/profile_train_step.py').run(
        [demo, '--shape', '32', '32', '--batch', '2', '--warmup', '1',
         '--steps', '1', '--top', '5'])
    assert len(result['step_s']) == 1 and result['step_s'][0] > 0
    shapes = {(event.key, str(event.input_shapes))
              for event in result['averages']}
    assert not any('convolution' in key and '[8, 512, 1, 1]' in shape
                   and '[512, 512, 3, 3]' in shape for key, shape in shapes)
    assert any(key == 'aten::mm' and '[8, 512]' in shape
               for key, shape in shapes)
    printed = capsys.readouterr().out
    assert 'input (2, 8, 3, 32, 32) (N, T, C, H, W)' in printed
    assert 'ms per training step' in printed


def test_short_shape_means_one_clip_of_num_segments_frames():
    with torch.device('meta'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    resolve_input_shape = load_tool(
        'tools/analysis/get_flops.py').resolve_input_shape
    assert resolve_input_shape(model, [224, 224]) == (1, 16, 3, 224, 224)
    assert resolve_input_shape(model, [160]) == (1, 16, 3, 160, 160)
    with pytest.raises(ValueError, match='N T C H W'):
        resolve_input_shape(model, [1, 3, 224, 224])
