"""Unit-test settings shared by every package under tests/unit."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

# Keep hypothesis' example database and caches out of the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "shoal-unit-hypothesis")
