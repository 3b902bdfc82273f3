"""Damaged, empty and NaN checkpoints are refused on every path of ours.

Each file is written here and damaged for real (bytes changed in the
middle, cut in half, emptied, NaN written into a weight); each load path
(``RobustRunner``, the demo, the ONNX export and the converter) must
raise ``CheckpointFileError`` naming the file, or
print one ``error: FILE: reason`` line and exit 1, writing nothing.
"""
import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from helpers import DEMO, load_tool, tiny_config

from mmblvnet.apis.export import relative_diff, worst_relative_diff
from mmblvnet.apis.recognize import load_checked_checkpoint
from mmblvnet.engine import (
    CheckpointFileError,
    RobustRunner,
    check_state_dict,
    load_checked,
)


def linear_weights(value=None):
    """A state dict of nn.Linear(256, 256) (256 KiB: the middle of the
    file is tensor data), optionally with one weight set to ``value``."""
    state = torch.nn.Linear(256, 256).state_dict()
    if value is not None:
        state['weight'][3, 4] = value
    return state


def damage_middle(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(255 - b for b in data[middle:middle + 16])
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def files(tmp_path):
    """One file per kind of damage, by name."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': linear_weights()}, good)
    made = dict(good=good)
    made['damaged'] = tmp_path / 'damaged.pth'
    made['damaged'].write_bytes(good.read_bytes())
    damage_middle(made['damaged'])
    made['empty'] = tmp_path / 'empty.pth'
    made['empty'].write_bytes(b'')
    made['truncated'] = tmp_path / 'truncated.pth'
    made['truncated'].write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    legacy = tmp_path / 'legacy.pth'
    torch.save(linear_weights(), legacy, _use_new_zipfile_serialization=False)
    made['legacy_truncated'] = tmp_path / 'legacy_truncated.pth'
    made['legacy_truncated'].write_bytes(legacy.read_bytes()[:5000])
    made['tensor'] = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(3), made['tensor'])
    made['state_dict_list'] = tmp_path / 'state_dict_list.pth'
    torch.save({'state_dict': [torch.zeros(3)]}, made['state_dict_list'])
    made['text'] = tmp_path / 'notes.pth'
    made['text'].write_text('not a checkpoint\n' * 20)
    made['nan'] = tmp_path / 'nan.pth'
    torch.save({'state_dict': linear_weights(float('nan'))}, made['nan'])
    made['inf'] = tmp_path / 'inf.pth'
    torch.save(linear_weights(float('inf')), made['inf'])
    bn = torch.nn.BatchNorm2d(4).state_dict()
    bn['running_var'][2] = -1.0
    made['negative_var'] = tmp_path / 'negative_var.pth'
    torch.save({'state_dict': {f'bn1.{k}': v for k, v in bn.items()}},
               made['negative_var'])
    return made


REASONS = {
    'damaged': 'does not match its CRC-32 checksum',
    'empty': 'the file is empty (0 bytes)',
    'truncated': 'not a PyTorch checkpoint or truncated',
    'legacy_truncated': 'not a PyTorch checkpoint or truncated',
    'tensor': 'holds a Tensor, not a checkpoint',
    'state_dict_list': "its 'state_dict' entry is a list",
    'text': 'not a loadable PyTorch checkpoint',
    'nan': 'non-finite (NaN or Inf) weights in weight',
    'inf': 'non-finite (NaN or Inf) weights in weight',
    'negative_var': 'negative BatchNorm variance in bn1.running_var',
}


def reason(kind):
    """The regular expression of ``REASONS[kind]``."""
    return re.escape(REASONS[kind])


@pytest.mark.parametrize('kind', sorted(REASONS))
def test_each_damage_is_one_error_naming_file_and_reason(files, kind):
    with pytest.raises(CheckpointFileError) as error:
        load_checked(str(files[kind]))
    assert str(error.value).startswith(f'{files[kind]}: ')
    assert REASONS[kind] in str(error.value)
    assert '\n' not in str(error.value)


def test_good_files_load_and_missing_ones_name_the_path(files, tmp_path):
    checkpoint = load_checked(str(files['good']))
    assert torch.equal(checkpoint['state_dict']['bias'],
                       torch.load(files['good'])['state_dict']['bias'])
    with pytest.raises(FileNotFoundError, match='gone.pth: no such'):
        load_checked(str(tmp_path / 'gone.pth'))


def test_long_lists_of_tensors_are_shortened():
    state = {f'layer{i}.weight': torch.full((2, ), float('nan'))
             for i in range(8)}
    with pytest.raises(CheckpointFileError,
                       match=r'layer0.weight, .*layer4.weight and 3 more'):
        check_state_dict(state, 'model.pth')


def test_demo_load_refuses_damaged_files(files):
    for kind in ('damaged', 'empty', 'tensor', 'nan'):
        with pytest.raises(CheckpointFileError, match=reason(kind)):
            load_checked_checkpoint(torch.nn.Linear(256, 256),
                                    str(files[kind]))


def test_runner_test_and_resume_refuse_a_damaged_checkpoint(
        synthetic_root, files, tmp_path):
    cfg = tiny_config(synthetic_root, tmp_path / 'work')
    cfg.load_from = str(files['damaged'])
    cfg.resume = True
    runner = RobustRunner.from_cfg(cfg)
    with pytest.raises(CheckpointFileError, match=reason('damaged')):
        runner.load_or_resume()
    cfg.resume = False
    cfg.load_from = str(files['nan'])
    with pytest.raises(CheckpointFileError, match=reason('nan')):
        RobustRunner.from_cfg(cfg).test()


def test_demo_command_prints_one_error_line(files, tmp_path, capsys):
    demo = load_tool('tools/demo.py')
    video = tmp_path / 'clip.mp4'
    video.write_bytes(b'not read: the checkpoint fails first')
    assert demo.main([str(video), str(DEMO), str(files['damaged'])]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f'error: {files["damaged"]}: damaged: the '
                              'record ')
    assert REASONS['damaged'] in err[-1]


# --- ONNX export -------------------------------------------------------------

def test_nan_in_the_parity_check_is_the_worst_difference():
    nan = float('nan')
    results = {1: dict(max_abs_diff=1e-6, logit_scale=1.0),
               3: dict(max_abs_diff=nan, logit_scale=1.0)}
    assert worst_relative_diff(results) == float('inf')
    assert relative_diff(dict(max_abs_diff=0.0, logit_scale=nan)) == float(
        'inf')
    assert worst_relative_diff({1: results[1]}) == pytest.approx(1e-6)


def test_export_tool_fails_on_a_nan_parity_and_writes_nothing(
        files, tmp_path, monkeypatch, capsys):
    export = load_tool('tools/deployment/export_onnx.py')
    nan = float('nan')
    monkeypatch.setattr(export, 'onnx_parity', lambda *args: {
        1: dict(max_abs_diff=nan, logit_scale=1.0)})
    monkeypatch.setattr(export, 'export_onnx',
                        lambda model, shape, path, meta: Path(path).touch())
    out = tmp_path / 'out' / 'model.onnx'
    out.parent.mkdir()
    args = [str(DEMO), 'none', str(out), '--shape', '32', '32']
    assert export.main(args) == 1
    assert 'onnxruntime differs from PyTorch by inf' in capsys.readouterr(
    ).err
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize('kind', ['nan', 'damaged', 'empty'])
def test_export_tool_refuses_a_bad_checkpoint_and_writes_nothing(
        files, kind, tmp_path, capsys):
    export = load_tool('tools/deployment/export_onnx.py')
    out = tmp_path / 'out' / 'model.onnx'
    out.parent.mkdir()
    args = [str(DEMO), str(files[kind]), str(out), '--shape', '32', '32']
    assert export.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {files[kind]}: ')
    assert REASONS[kind] in err and '\n' not in err
    assert list(out.parent.iterdir()) == []
    with pytest.raises(CheckpointFileError):
        export.main(args + ['--debug'])


# --- converter ---------------------------------------------------------------

@pytest.mark.parametrize(
    'kind', ['nan', 'negative_var', 'empty', 'truncated', 'damaged',
             'tensor', 'missing'])
def test_converter_refuses_bad_sources_with_one_line(files, kind, tmp_path,
                                                     capsys):
    convert = load_tool('tools/convert_ibm_checkpoint.py')
    src = files.get(kind, tmp_path / 'missing.pth')
    dst = tmp_path / 'out' / 'converted.pth'
    assert convert.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {src}: ') and '\n' not in err
    assert REASONS.get(kind, 'no such checkpoint file') in err
    assert not dst.parent.exists()


def test_converter_debug_flag_raises_with_the_traceback(files, tmp_path):
    convert = load_tool('tools/convert_ibm_checkpoint.py')
    with pytest.raises(CheckpointFileError, match=reason('nan')):
        convert.main([str(files['nan']), str(tmp_path / 'out.pth'),
                      '--debug'])


def test_an_unsafe_pickle_stays_an_unpickling_error(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': os.getcwd}, path)
    with pytest.raises(pickle.UnpicklingError, match=f'{path}: .*GLOBAL'):
        load_checked(str(path))

