"""shoal: a container orchestrator implementing Docker Swarm mode and the Kubernetes object model.

The package is laid out as ``docs/design`` and ``DESIGN.md`` describe: core objects (``api``), a
revisioned store (``store``), reconcilers and a scheduler (``manager``), an agent that runs tasks
(``agent``) through pluggable runtimes (``runtime``), thin API front doors (``frontdoor``) and the
``shoal`` command line (``cli``).
"""

__version__ = "0.1.0"
ENGINE_VERSION = "28.2.2-shoal"
API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
