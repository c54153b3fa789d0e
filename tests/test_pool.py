"""ModelPool: each caller gets a model of its own, clean of other callers' hooks, and no more copies than asked."""

import threading
import time

import pytest
import torch

from othello.model import ModelPool, build_model, preset, to_tokens


@pytest.fixture(scope="module")
def tiny():
    return build_model(preset("tiny")).eval()


def test_a_lease_is_a_copy_the_template_is_never_lent(tiny):
    pool = ModelPool(tiny, most=2)
    with pool.lease() as a:
        assert a is not tiny and torch.equal(a(to_tokens("f5 d6")), tiny(to_tokens("f5 d6")))
        with pool.lease() as b:
            assert b is not a and pool.lent == 2
    assert pool.lent == 0 and pool.made == 2


def test_a_hook_left_behind_is_removed_before_the_next_caller(tiny):
    pool = ModelPool(tiny, most=1)
    with pool.lease() as model:
        model.add_hook("blocks.0.hook_resid_post", lambda x, hook: x * 0)
    with pool.lease() as model:  # the same copy: most=1
        clean = model(to_tokens("f5 d6"))
    assert torch.equal(clean, tiny(to_tokens("f5 d6")))


def test_callers_past_most_wait_for_a_copy(tiny):
    pool = ModelPool(tiny, most=1)
    order = []

    def hold():
        with pool.lease():
            order.append("first in")
            time.sleep(0.3)
            order.append("first out")

    worker = threading.Thread(target=hold)
    worker.start()
    while not order:
        time.sleep(0.01)
    with pool.lease():
        order.append("second in")
    worker.join()
    assert order == ["first in", "first out", "second in"] and pool.made == 1
