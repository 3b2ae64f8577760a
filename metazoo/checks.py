"""Argument checks shared by every layer of metazoo (data, models, recipes).

This module imports nothing from metazoo and nothing heavy, so any module
may use it.
"""

from __future__ import annotations

import numbers


def check_int(name: str, value, minimum: int = 1, allow_none: bool = False) -> int | None:
    """Returns `value` as an `int`; raises `ValueError` unless it is an integer >= `minimum`.

    Python and numpy integers pass; `bool`, floats (even `2.0`) and strings
    do not. The message names the argument and what was received.

    Args:
        name: str. The argument's name, as the caller spells it.
        value: The value to check.
        minimum: int. The smallest value allowed (1: a positive integer).
        allow_none: bool. Let `None` through (returned as `None`).

    Example:
    ```python
    ways = check_int("ways", ways)  # "ways must be a positive integer. Received: ways=0"
    seed = check_int("seed", seed, minimum=0)
    ```
    """
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")
    return int(value)
