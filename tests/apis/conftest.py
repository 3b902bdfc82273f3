"""A small recognizer exported to ONNX, shared by the deployment tests."""
import pytest
from helpers import random_model_files, tiny_config

from mmblvnet.apis.export import export_onnx, onnx_metadata

T, SIZE = 8, 32


@pytest.fixture(scope='session')
def deployed(synthetic_root, tmp_path_factory):
    """The demo config on the session's synthetic data (6 classes, 8
    frames at 32x32), a checkpoint of random input-dependent weights and
    its fp32 ONNX export.

    Returns:
        dict: ``root``, ``config``, ``checkpoint``, ``onnx`` (paths),
        ``model`` (the PyTorch recognizer), ``train_list``, ``val_list``.
    """
    root = tmp_path_factory.mktemp('deployed')
    train_list = synthetic_root / 'train_list_videos.txt'
    val_list = synthetic_root / 'val_list_videos.txt'
    cfg = tiny_config(synthetic_root, root / 'work', train_list=train_list,
                      test_list=val_list)
    cfg.dump(str(root / 'base.py'))
    config, model = random_model_files(
        root, f'_base_ = [{str(root / "base.py")!r}]\n', (T, 3, SIZE, SIZE))
    onnx_path = root / 'fp32.onnx'
    export_onnx(model, (T, 3, SIZE, SIZE), str(onnx_path),
                onnx_metadata(model, T))
    return dict(root=root, config=str(config),
                checkpoint=str(root / 'w.pth'), onnx=str(onnx_path),
                model=model, train_list=str(train_list),
                val_list=str(val_list))
