"""Unit-test settings shared by every package under tests/unit."""

from __future__ import annotations

import atexit
import shutil
import tempfile

from hypothesis.configuration import set_hypothesis_home_dir

# Keep hypothesis' example database and caches out of the working tree, in a directory removed at exit.
_home = tempfile.mkdtemp(prefix="shoal-unit-hypothesis-")
set_hypothesis_home_dir(_home)
atexit.register(shutil.rmtree, _home, True)
