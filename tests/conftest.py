"""Settings for the whole suite: daemons started by the tests (in process, or as processes that
inherit the environment) contact no registry outside this machine, and forward no task's DNS query
to the host's resolvers, so no outside name is resolved."""

from __future__ import annotations

import os

os.environ.setdefault("SHOAL_BLOCK_REGISTRY", "all")
os.environ.setdefault("SHOAL_DNS", "none")
