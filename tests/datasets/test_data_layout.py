"""Our data set configs read the folders and lists that MMAction2's
``tools/data/<dataset>`` scripts write, exactly as MMAction2's own configs
do (compared through ``mmengine.hub``, which works offline)."""
import pytest
from mmengine.config import Config
from mmengine.hub import get_config

from mmblvnet.zoo import DATASETS, config_name

# One MMAction2 config per data set that reads the prepared data.
MMACTION_CONFIGS = {
    'kinetics400_videos': 'recognition/tsn/tsn_imagenet-pretrained-r50_'
    '8xb32-1x1x5-100e_kinetics400-rgb.py',
    'sthv2_videos': 'recognition/tsm/tsm_imagenet-pretrained-r50_'
    '8xb16-1x1x8-50e_sthv2-rgb.py',
    'sthv1_rawframes': 'recognition/trn/trn_imagenet-pretrained-r50_'
    '8xb16-1x1x8-50e_sthv1-rgb.py',
    'mit_videos': 'recognition/uniformerv2/uniformerv2-base-p16-res224_'
    'clip-kinetics710-kinetics-k400-pre_16xb32-u8_mitv1-rgb.py',
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def data_keys(cfg, loader):
    """What a loader reads: type, list, folder and frame file names."""
    dataset = cfg[loader].dataset
    folder = 'img' if dataset.type == 'RawframeDataset' else 'video'
    return dict(type=dataset.type, ann_file=dataset.ann_file,
                folder=dataset.data_prefix[folder],
                filename_tmpl=dataset.get('filename_tmpl'))


@pytest.mark.parametrize('name', sorted(MMACTION_CONFIGS))
def test_dataset_config_reads_what_mmaction2_configs_read(name):
    ours = Config.fromfile(f'configs/_base_/datasets/{name}.py')
    theirs = get_config('mmaction::' + MMACTION_CONFIGS[name])
    for loader in LOADERS:
        assert data_keys(ours, loader) == data_keys(theirs, loader), loader


def test_every_zoo_data_set_is_compared():
    compared = {name.split('_')[0] for name in MMACTION_CONFIGS}
    assert compared == set(DATASETS)


@pytest.mark.parametrize('dataset', sorted(DATASETS))
def test_zoo_configs_name_stock_types_that_mmaction2_tools_accept(dataset):
    # check_videos asserts type == 'VideoDataset'; clip_feature_extraction
    # honours --video-root only for VideoDataset / RawframeDataset; vis_cam
    # reads cfg.test_pipeline.
    cfg = Config.fromfile('configs/zoo/' + config_name(dataset, 50, 8))
    for loader in LOADERS:
        assert cfg[loader].dataset.type in ('VideoDataset',
                                            'RawframeDataset')
    assert cfg.test_pipeline == cfg.test_dataloader.dataset.pipeline
