"""Settings for the whole suite: daemons started by the tests (in process, or as processes that
inherit the environment) contact no registry outside this machine, and forward no task's DNS query
to the host's resolvers, so no outside name is resolved; their default bridge (for tasks without
networks) takes its addresses from the suite's pool, 10.213.0.0/16."""

from __future__ import annotations

import os

os.environ.setdefault("SHOAL_BLOCK_REGISTRY", "all")
os.environ.setdefault("SHOAL_DNS", "none")
os.environ.setdefault("SHOAL_BIP", "10.213.240.1/24")  # tasks without networks: a bridge inside the test pool
