"""benchmarks/quickstart_check.py pools several seeds' RL - SFT: mean over runs, independent standard errors."""


import pytest

from onethinker.eval.blind import ALL_TASKS


@pytest.fixture(scope="module")
def check(load_benchmark):
    return load_benchmark("quickstart_check")


def _run(diff, se, looks, helps):
    return {"rows": {ALL_TASKS: {"rl_minus_sft": diff, "rl_minus_sft_se": se}},
            "verdict": {"looks": looks, "rl_helps": helps}}


def test_pool_is_the_mean_with_independent_errors(check):
    runs = [_run(0.009, 0.004, True, False), _run(0.025, 0.003, True, True), _run(0.007, 0.0, True, False)]
    p = check.pool(runs, "rl_minus_sft")
    assert p["values"] == [0.009, 0.025, 0.007]
    assert p["mean"] == pytest.approx(0.041 / 3)
    assert p["se"] == pytest.approx(0.005 / 3)  # sqrt(0.004^2 + 0.003^2 + 0) / 3
    assert p["low"] == pytest.approx(0.041 / 3 - 1.959964 * 0.005 / 3)
    assert p["high"] == pytest.approx(0.041 / 3 + 1.959964 * 0.005 / 3)
    assert (p["runs"], p["looks"], p["rl_helps"]) == (3, 3, 1)


def test_pool_without_an_error_gives_no_interval(check):
    p = check.pool([_run(0.02, None, False, True), _run(-0.01, 0.01, True, False)], "rl_minus_sft")
    assert p["mean"] == pytest.approx(0.005)
    assert p["se"] is None and p["low"] is None and p["high"] is None
    assert (p["looks"], p["rl_helps"]) == (1, 1)
