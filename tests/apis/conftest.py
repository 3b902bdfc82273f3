"""A small recognizer exported to ONNX, shared by the deployment tests."""
import pytest
import torch
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


def colour_clips(generator, labels, colours):
    """Normalised clips (N, T, 3, SIZE, SIZE) of noise around each label's
    colour, drawn frame by frame."""
    noise = torch.randn(len(labels), T, 3, SIZE, SIZE, generator=generator)
    return colours[labels][:, None, :, None, None] + noise


@pytest.fixture(scope='session')
def trained_onnx(deployed, tmp_path_factory):
    """The deployed config's model trained (60 AdamW steps) to tell 6
    classes of noisy clips apart by colour, exported to fp32 ONNX.

    Returns:
        dict: ``onnx`` (path), ``calibration`` (8 batches of one clip)
        and ``held_out`` (16 clips), clips as float32 arrays
        (N, T, 3, H, W).
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config

    from mmblvnet.utils.complexity import RecognizerForward
    model = MODELS.build(Config.fromfile(deployed['config']).model)
    forward = RecognizerForward(model.train())
    generator = torch.Generator().manual_seed(0)
    num_classes = model.cls_head.num_classes
    colours = torch.randn(num_classes, 3, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(60):
        labels = torch.randint(num_classes, (8, ), generator=generator)
        loss = torch.nn.functional.cross_entropy(
            forward(colour_clips(generator, labels, colours)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp('trained') / 'fp32.onnx'
    export_onnx(model, (T, 3, SIZE, SIZE), str(path), onnx_metadata(model, T))
    clips = colour_clips(generator, torch.arange(24) % num_classes,
                         colours).numpy()
    return dict(onnx=str(path), calibration=list(clips[:8, None]),
                held_out=clips[8:])
