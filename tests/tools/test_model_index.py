"""``mim search mmblvnet`` lists the model zoo from the packaged index.

The package is built into a wheel and installed into a temporary folder,
as ``pip install`` would, so the test sees what a user's installation
holds (``mmblvnet/.mim/model-index.yml`` and its metafile, copied from the
links in the source tree).
"""
import re
import subprocess
import sys

import pytest
import yaml
from helpers import REPO, environment

from mmblvnet.zoo import DATASETS, VARIANTS, config_name


def zoo_names():
    return {config_name(dataset, depth, pairs)[:-3]
            for dataset in DATASETS for depth, pairs in VARIANTS}


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A normal (non-editable) installation of this checkout."""
    root = tmp_path_factory.mktemp('install')
    wheels, target = root / 'wheels', root / 'site'
    pip = [sys.executable, '-m', 'pip', '-q']

    def run_pip(*args):
        result = subprocess.run([*pip, *args], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]

    run_pip('wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w',
            str(wheels), str(REPO))
    run_pip('install', '--no-deps', '--no-index', '--target', str(target),
            *map(str, wheels.glob('*.whl')))
    return target


def test_mim_search_lists_every_zoo_model(installed):
    result = subprocess.run(
        ['mim', 'search', 'mmblvnet', '--display-width', '200'],
        capture_output=True, text=True, timeout=120,
        env=environment(PYTHONPATH=str(installed)))
    assert result.returncode == 0, result.stderr[-3000:]
    listed = set(re.findall(r'^config id: (\S+)$', result.stdout,
                            flags=re.M))
    assert listed == zoo_names()
    assert 'something-something v2/top_1_accuracy' in result.stdout
    assert 'paper (1 clip x 1 centre crop)' in result.stdout


def test_installed_package_holds_index_metafile_and_configs(installed):
    mim_dir = installed / 'mmblvnet' / '.mim'
    index = yaml.safe_load((mim_dir / 'model-index.yml').read_text())
    metafile = yaml.safe_load(
        (mim_dir / index['Import'][0]).read_text())
    for model in metafile['Models']:
        assert (mim_dir / model['Config']).is_file(), model['Config']
    assert (mim_dir / 'tools' / 'train.py').is_file()


def test_metafile_follows_openmmlab_schema():
    """Every model has the schema's fields; paper numbers are marked and
    the converted checkpoint names IBM's released file."""
    metafile = yaml.safe_load((REPO / 'metafile.yml').read_text())
    assert {model['Name'] for model in metafile['Models']} == zoo_names()
    for model in metafile['Models']:
        metadata = model['Metadata']
        assert {'FLOPs', 'Parameters', 'Training Data', 'Batch Size',
                'Epochs'} <= set(metadata)
        assert model['In Collection'] == 'bLVNet-TAM'
        for result in model.get('Results', []):
            assert set(result) == {'Dataset', 'Task', 'Metrics'}
            assert metadata['Results Source'].startswith('paper')
        if 'Converted From' in model:
            assert model['Converted From']['Weights'].endswith('.pth.tar')
    sthv2_50 = next(model for model in metafile['Models']
                    if model['Name'].startswith('blvnet-tam_r50_8xb8-1x1x16')
                    and 'sthv2' in model['Name'])
    assert sthv2_50['Results'][0]['Metrics'] == {'Top 1 Accuracy': 59.1}
    assert sthv2_50['Converted From']['Weights'] == (
        'st2stv2-bLVNet-TAM-50-a2-b4-f8x2.pth.tar')


def test_installed_package_runs_quickstart_without_a_clone(installed,
                                                        tmp_path):
    """The demo config of ``python -m mmblvnet.quickstart`` comes from the
    installed package, run from a folder that is no clone; the benchmarks
    and the study stay in the repository."""
    script = (
        'import mmblvnet\n'
        'from mmengine.config import Config\n'
        'from mmblvnet.quickstart import packaged_config\n'
        'cfg = Config.fromfile(packaged_config())\n'
        'print(mmblvnet.__file__, packaged_config(), cfg.model.backbone.type)'
    )
    result = subprocess.run(
        [sys.executable, '-c', script], capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
        env=environment(PYTHONPATH=str(installed)))
    assert result.returncode == 0, result.stderr[-3000:]
    package, config, backbone = result.stdout.split()
    assert package.startswith(str(installed))
    assert config == str(installed / 'mmblvnet' / '.mim' /
                         'configs' / 'demo' /
                         'blvnet-tam_r50_1xb8-1x1x8-8e_synthetic-rgb.py')
    assert backbone == 'bLResNet'
    assert not any((installed / name).exists()
                   for name in ('benchmarks', 'study', 'tests'))
