"""Generic resource terms as SwarmKit parses them (and its error words)."""

from __future__ import annotations

import pytest

from shoal.api import generic
from shoal.api.generic import GenericResourceError, discrete, named


def test_parse_discrete_and_named_as_swarmkit() -> None:
    assert generic.parse(["gpu=4"]) == [discrete("gpu", 4)]
    assert generic.parse(["gpu=UUID1", "gpu=UUID2", "fpga=2"]) == [
        named("gpu", "UUID1"), named("gpu", "UUID2"), discrete("fpga", 2)]
    with pytest.raises(GenericResourceError, match=r"^could not parse GenericResource: incorrect term gpu, "
                                                   r"missing'=' or malformed expression$"):
        generic.parse(["gpu"])
    with pytest.raises(GenericResourceError, match=r"^could not parse GenericResource: malformed expression "
                                                   r"'gpu=\[UUID1 2\]'$"):
        generic.parse(["gpu=UUID1", "gpu=2"])
    with pytest.raises(GenericResourceError, match="cannot ask fornegative resource gpu"):
        generic.parse(["gpu=-1"])
