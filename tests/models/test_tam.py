import pytest
import torch
from reference import slow_tam

from mmblvnet.models.common.tam import TAM

# (blending_frames, method, num_segments, causal)
CASES = [(k, method, t, causal) for causal, ks in ((False, (1, 3, 5)),
                                                   (True, (2, 3)))
         for k in ks for method in ('sum', 'max') for t in (2, 4, 8)]


@pytest.mark.parametrize('k,method,num_segments,causal', CASES)
def test_tam_equals_per_frame_formula(k, method, num_segments,
                                      causal):
    tam = TAM(6, num_segments, blending_frames=k, blending_method=method,
              causal=causal)
    x = torch.randn(2 * num_segments, 6, 3, 5, requires_grad=True)
    out = tam(x)
    expected = slow_tam(x, tam.weight, num_segments, method, causal)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)

    grad = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, tam.weight), grad)
    expected_grads = torch.autograd.grad(expected, (x, tam.weight), grad)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('k,method,num_segments,causal', CASES)
def test_tam_on_even_and_odd_frames_matches_plain_forward(
        k, method, num_segments, causal):
    tam = TAM(4, num_segments, blending_frames=k, blending_method=method,
              causal=causal)
    x = torch.randn(3 * num_segments, 4, 2, 3)
    pairs = x.view(3, num_segments // 2, 2, 4, 2, 3)
    even = pairs[:, :, 0].reshape(-1, 4, 2, 3)
    odd = pairs[:, :, 1].reshape(-1, 4, 2, 3)
    with torch.no_grad():
        expected = tam(x).view_as(pairs)
        even_out, odd_out = tam.forward_pairs(even, odd)
    torch.testing.assert_close(even_out,
                               expected[:, :, 0].reshape_as(even_out))
    torch.testing.assert_close(odd_out,
                               expected[:, :, 1].reshape_as(odd_out))


@pytest.mark.parametrize('k,method,num_segments,causal', CASES)
def test_tam_on_the_onnx_export_path_equals_per_frame_formula(
        k, method, num_segments, causal, monkeypatch):
    # ONNX export's form (whole frames rotated along the batch, masked
    # at clip boundaries).
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    tam = TAM(6, num_segments, blending_frames=k, blending_method=method,
              causal=causal)
    x = torch.randn(3 * num_segments, 6, 3, 5)
    pairs = x.view(3, num_segments // 2, 2, 6, 3, 5)
    even = pairs[:, :, 0].reshape(-1, 6, 3, 5)
    odd = pairs[:, :, 1].reshape(-1, 6, 3, 5)
    expected = slow_tam(x, tam.weight, num_segments, method, causal)
    torch.testing.assert_close(tam(x), expected, atol=1e-5, rtol=1e-5)
    expected = expected.view_as(pairs)
    for got, parity in zip(tam.forward_pairs(even, odd), (0, 1)):
        torch.testing.assert_close(
            got, expected[:, :, parity].reshape_as(got), atol=1e-5,
            rtol=1e-5)
    duplicated = slow_tam(even.repeat_interleave(2, dim=0), tam.weight,
                          num_segments, method, causal).view(-1, 2, 6, 3, 5)
    for got, parity in zip(tam.forward_pairs(even, even), (0, 1)):
        torch.testing.assert_close(
            got, duplicated[:, parity], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('k,method,num_segments,causal', CASES)
def test_tam_on_pair_maps_matches_duplicated_frames(k, method,
                                                     num_segments, causal):
    tam = TAM(4, num_segments, blending_frames=k, blending_method=method,
              causal=causal)
    pair_maps = torch.randn(2 * num_segments // 2, 4, 3, 3,
                            requires_grad=True)
    duplicated = pair_maps.repeat_interleave(2, dim=0)
    even, odd = tam.forward_pairs(pair_maps, pair_maps)
    expected = slow_tam(duplicated, tam.weight, num_segments, method,
                        causal)
    expected = expected.view(-1, 2, 4, 3, 3)
    torch.testing.assert_close(even, expected[:, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(odd, expected[:, 1], atol=1e-5, rtol=1e-5)

    grads = torch.autograd.grad(even.sum() + 2 * odd.sum(),
                                (pair_maps, tam.weight))
    expected_grads = torch.autograd.grad(
        expected[:, 0].sum() + 2 * expected[:, 1].sum(),
        (pair_maps, tam.weight))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_tam_keeps_channels_last_input_working():
    tam = TAM(8, 4)
    x = torch.randn(8, 8, 5, 5)
    out = tam(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, tam(x))


def test_tam_init_matches_kaiming_fan_out_of_a_depthwise_conv():
    tam = TAM(4096, 2, blending_frames=5)
    assert tam.weight.shape == (5, 4096)
    assert abs(tam.weight.std().item() - (2 / 4096)**0.5) < 2e-3


@pytest.mark.parametrize('kwargs,message', [
    (dict(blending_frames=2), 'blending_frames'),
    (dict(blending_frames=0), 'blending_frames'),
    (dict(blending_method='mean'), 'blending_method'),
    (dict(num_segments=0), 'num_segments'),
])
def test_tam_rejects_bad_arguments(kwargs, message):
    args = dict(in_channels=4, num_segments=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        TAM(**args)


def test_tam_rejects_batch_not_multiple_of_num_segments():
    with pytest.raises(ValueError, match=r'num_segments=4.*\(6, 3, 2, 2\)'):
        TAM(3, 4)(torch.randn(6, 3, 2, 2))
