import numpy as np
import pytest

from metazoo.checks import check_int


def test_check_int_passes_integers_and_returns_them():
    assert check_int("ways", 5) == 5
    assert type(check_int("ways", np.int64(5))) is int
    assert check_int("seed", 0, minimum=0) == 0
    assert check_int("inner_batch_size", None, allow_none=True) is None


@pytest.mark.parametrize("value", [0, -1, 1.0, 2.5, "3", True, None])
def test_check_int_names_the_argument_and_the_value(value):
    with pytest.raises(ValueError) as error:
        check_int("ways", value)
    assert str(error.value) == f"ways must be a positive integer. Received: ways={value!r}"


def test_check_int_minimum():
    with pytest.raises(
        ValueError, match=r"^batch_size must be an integer >= 2\. Received: batch_size=1$"
    ):
        check_int("batch_size", 1, minimum=2)
    with pytest.raises(ValueError, match="seed must be an integer >= 0. Received: seed=-1"):
        check_int("seed", -1, minimum=0)
