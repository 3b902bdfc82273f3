"""Per-sample random streams: a function of (seed, epoch, index) only,
carried to data-loader workers, leaving the process's own streams as they
were."""
import pickle
import random

import numpy as np
import pytest
import torch

from mmblvnet.datasets.randomness import SeededIndex, sample_randomness


def _draws():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())))


def test_a_seeded_index_is_its_int_and_pickles_with_its_stream():
    index = SeededIndex(3, seed=42, epoch=1)
    assert index == 3 and [10, 11, 12, 13][index] == 13
    assert np.arange(5)[index] == 3
    copy = pickle.loads(pickle.dumps(index))
    assert (type(copy), int(copy), copy.seed, copy.epoch) == (
        SeededIndex, 3, 42, 1)
    assert copy.stream_seed() == index.stream_seed()


@pytest.mark.parametrize('other', [dict(index=4, seed=42, epoch=1),
                                   dict(index=3, seed=43, epoch=1),
                                   dict(index=3, seed=42, epoch=2)])
def test_each_of_seed_epoch_and_index_changes_the_stream(other):
    index = SeededIndex(3, seed=42, epoch=1)
    assert SeededIndex(**other).stream_seed() != index.stream_seed()


def test_a_sample_draws_the_same_whatever_was_drawn_before():
    index = SeededIndex(7, seed=0, epoch=0)
    with sample_randomness(index):
        first = _draws()
    _draws()  # another sample's work in the same worker
    with sample_randomness(index):
        assert _draws() == first


def test_the_process_streams_do_not_move_and_plain_ints_change_nothing():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = _draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with sample_randomness(SeededIndex(7, seed=0, epoch=0)):
        _draws()
    assert _draws() == expected
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with sample_randomness(7):
        assert _draws() == expected
