"""Config mistakes refused before anything is built: a top-level variable
that no longer reaches the model, a hook argument nobody accepts; lr=0
warns."""
import copy

import pytest
from helpers import (
    DEMO,
    REPO,
    data_options,
    load_tool,
    logged_warnings,
    run,
    train_command,
)
from mmengine.config import Config

check_config = load_tool('tools/config_check.py').check_config

FINETUNE = (REPO / 'configs' / 'finetune' /
            'blvnet-tam_r50_sthv2-pre_1xb8-1x1x16-10e_custom-rgb.py')


def _merged(options, config=DEMO):
    loaded = Config.fromfile(str(config))
    cfg = copy.deepcopy(loaded)
    cfg.merge_from_dict(options)
    return cfg, loaded


def _refusal(options, config=DEMO):
    cfg, loaded = _merged(options, config)
    with pytest.raises(ValueError) as error:
        check_config(cfg, loaded, options, training=True)
    return str(error.value)


def test_top_level_variable_that_no_longer_reaches_the_model_is_refused():
    assert _refusal({'num_segments': 0}) == (
        "--cfg-options num_segments=0 sets the top-level variable "
        "num_segments, which the config already used when it was read: "
        "model.backbone.num_segments stay 8; set "
        "model.backbone.num_segments=0 instead (and any other key the "
        "variable fed)")


def test_setting_the_key_itself_or_an_unused_variable_passes():
    for options in ({'model.backbone.num_segments': 16},
                    {'num_segments': 8}, {'work_dir': '/tmp/w'}):
        cfg, loaded = _merged(options)
        check_config(cfg, loaded, options, training=True)


def test_hook_argument_typo_is_refused_with_the_closest_name():
    assert _refusal({'default_hooks.checkpoint.intervall': 1}) == (
        "default_hooks.checkpoint.intervall: CheckpointHook takes no "
        "argument 'intervall' (nor does Runner.save_checkpoint, which gets "
        "its other arguments); did you mean 'interval'?")
    assert _refusal({'custom_hooks.0.ignore_key': []}, FINETUNE) == (
        "custom_hooks[0].ignore_key: StrictLoadHook takes no argument "
        "'ignore_key'; did you mean 'ignore_keys'?")


def test_zero_lr_warns():
    options = {'optim_wrapper.optimizer.lr': 0}
    cfg, loaded = _merged(options)
    messages = logged_warnings(
        lambda: check_config(cfg, loaded, options, training=True))
    assert messages == ['optim_wrapper.optimizer.lr=0: the weights will '
                        'not change (unless a param_scheduler raises the '
                        'rate)']


def test_train_tool_refuses_both_before_building(synthetic_root, tmp_path):
    work = tmp_path / 'work'
    result = run(train_command(
        work, *data_options(synthetic_root, tmp_path, validate=False),
        'num_segments=0', 'default_hooks.checkpoint.intervall=1'))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'error: ' + _refusal({'num_segments': 0}) + '; ' +
        _refusal({'default_hooks.checkpoint.intervall': 1}))
    assert not work.exists()  # refused before the runner made the folder
