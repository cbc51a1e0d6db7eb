"""The process's Prometheus metrics (issue 17): every metric shoal records, defined once, with
Prometheus' naming conventions (``shoal_`` prefix, base units, ``_total`` counters), in
prometheus_client's default registry. Any layer records into them; ``/metrics`` (frontdoor/ui)
exposes them with the cluster's state collected at scrape time (``Daemon.metrics_registry``).

Stand-in on main until the metrics land.
"""

from __future__ import annotations
