"""Slow, literal implementations used as test oracles.

They follow the reference dataflow of IBM/bLVNet-TAM (index lists, TAM over
all T frames, fused maps scattered back to both frames of a pair) rather
than mmblvnet's pair-map fast path, and read weights from an mmblvnet
model, so equal outputs pin the fast path to the published design.
"""
import torch
import torch.nn.functional as F
from torch import nn


def slow_tam(x, weight, num_segments, method='sum', causal=False):
    """TAM from its definition, one output frame and one term at a time.

    Args:
        x (torch.Tensor): Frames of shape (N * T, C, H, W).
        weight (torch.Tensor): Kernels of shape (k, C).
        num_segments (int): T.
        method (str): 'sum' or 'max'.
        causal (bool): Blend frames t - k + 1 .. t instead of
            t - k // 2 .. t + k // 2.
    """
    k = weight.shape[0]
    clips = x.view(-1, num_segments, *x.shape[1:])
    out = torch.zeros_like(clips)
    for n in range(clips.shape[0]):
        for t in range(num_segments):
            terms = []
            for i in range(k):
                source = t + i - (k - 1 if causal else k // 2)
                frame = (clips[n, source] if 0 <= source < num_segments else
                         torch.zeros_like(clips[n, t]))
                terms.append(weight[i].view(-1, 1, 1) * frame)
            stacked = torch.stack(terms)
            blended = stacked.sum(0) if method == 'sum' else stacked.amax(0)
            out[n, t] = torch.relu(blended)
    return out.view_as(x)


def _apply_tam(tam, x):
    if tam is None:
        return x
    return slow_tam(x, tam.weight, tam.num_segments, tam.blending_method,
                    tam.causal)


def _run(modules, x):
    """The modules in order, convolutions and pools as plain functions
    (whatever form the model's modules compute them in)."""
    for module in modules:
        if isinstance(module, nn.Conv2d):
            x = F.conv2d(x, module.weight, module.bias, module.stride,
                         module.padding, module.dilation, module.groups)
        elif isinstance(module, nn.AvgPool2d):
            x = F.avg_pool2d(x, module.kernel_size, module.stride,
                             module.padding)
        else:
            x = module(x)
    return x


def _bottleneck(block, x):
    identity = x
    x = _apply_tam(block.tam, x)
    out = F.relu(_run((block.conv1, block.bn1), x))
    out = F.relu(_run((block.conv2, block.bn2), out))
    out = _run((block.conv3, block.bn3), out)
    if block.downsample is not None:
        identity = _run(block.downsample, x)
    out = out + identity
    return F.relu(out) if block.last_relu else out


def _scatter_to_pairs(fused, num_frames):
    out = fused.new_zeros((num_frames, ) + fused.shape[1:])
    out[0::2] = fused
    out[1::2] = fused
    return out


def reference_blresnet_forward(model, x):
    """bLResNet forward the way the reference code computes it.

    Args:
        model (bLResNet): Supplies the weights.
        x (torch.Tensor): Frames of shape (N * T, C, H, W).

    Returns:
        torch.Tensor: Features of shape (N * T, 2048, h, w).
    """
    t = model.num_segments
    x = F.relu(_run((model.conv1, model.bn1), x))
    n = x.shape[0]
    big = [c * t + f for c in range(n // t) for f in range(1, t, 2)]
    little = [c * t + f for c in range(n // t) for f in range(0, t, 2)]

    stem = model.layer0
    x = _apply_tam(stem.tam, x)
    fused = _run(stem.big, x[big]) + _run(stem.little, x[little])
    x = _scatter_to_pairs(_run(stem.fusion, F.relu(fused)), n)
    for stage in (model.layer1, model.layer2, model.layer3):
        x = _apply_tam(stage.tam, x)
        big_out = x[big]
        for block in stage.big:
            big_out = _bottleneck(block, big_out)
        little_out = x[little]
        for block in stage.little:
            little_out = _bottleneck(block, little_out)
        little_out = _run(stage.little_e, little_out)
        big_out = F.interpolate(big_out, little_out.shape[-2:])
        fused = F.relu(big_out + little_out)
        x = _scatter_to_pairs(_bottleneck(stage.fusion[0], fused), n)
    x = x[big]
    for block in model.layer4:
        x = _bottleneck(block, x)
    return _scatter_to_pairs(x, n)


# bLResNet.layer0 module -> reference module (inverse of the converter's
# table, written out independently).
_LAYER0_TO_REFERENCE = {
    'big.0': 'b_conv0',
    'big.1': 'bn_b0',
    'little.0': 'l_conv0',
    'little.1': 'bn_l0',
    'little.3': 'l_conv1',
    'little.4': 'bn_l1',
    'little.6': 'l_conv2',
    'little.7': 'bn_l2',
    'fusion.0': 'bl_init',
    'fusion.1': 'bn_bl_init',
}


def _reference_tam_keys(prefix, weight):
    k = weight.shape[0]
    kernels = weight.reshape(k, -1, 1, 1, 1)
    if k == 3:
        names = ('prev', 'curr', 'next')
    else:
        names = [f'blending_layers.{i}' for i in range(k)]
    return {f'{prefix}tam.{name}.weight': kernels[i]
            for i, name in enumerate(names)}


def to_ibm_layout(backbone, fc, module_prefix=True):
    """A released-file style state dict for a bLResNet and a classifier.

    Args:
        backbone (bLResNet): The backbone.
        fc (torch.nn.Linear): The classifier, saved as ``new_fc``.
        module_prefix (bool): Add the ``module.`` of DataParallel.
    """
    state = {}
    for key, value in backbone.state_dict().items():
        if key == 'layer0.tam.weight':
            state.update(_reference_tam_keys('', value))
        elif key.endswith('tam.weight'):
            state.update(_reference_tam_keys(key[:-len('tam.weight')],
                                             value))
        elif key.startswith('layer0.'):
            module, _, leaf = key[len('layer0.'):].rpartition('.')
            state[f'{_LAYER0_TO_REFERENCE[module]}.{leaf}'] = value
        else:
            state[key] = value
    released = {f'baseline_model.{k}': v for k, v in state.items()}
    released['new_fc.weight'] = fc.weight.detach().clone()
    released['new_fc.bias'] = fc.bias.detach().clone()
    prefix = 'module.' if module_prefix else ''
    return {prefix + k: v for k, v in released.items()}


def randomize_(module, seed=0):
    """Random weights and BN statistics, so no check passes by zeros."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(
                module.named_buffers()):
            if not tensor.dtype.is_floating_point:
                continue
            if name.endswith(('running_var', 'weight')) and tensor.dim() == 1:
                tensor.uniform_(0.5, 1.5, generator=generator)
            else:
                scale = 0.05 if tensor.dim() > 1 else 0.1
                tensor.normal_(0, scale, generator=generator)
    return module


def assert_matches_reference(model, x):
    """``model(x)`` without autograd equals :func:`reference_blresnet_forward`
    (to 1e-5 of the output's scale, which must not be 0)."""
    with torch.no_grad():
        out = model(x)
        expected = reference_blresnet_forward(model, x)
    scale = expected.abs().max()
    assert scale > 0
    torch.testing.assert_close(out, expected, atol=1e-5 * scale, rtol=0)
