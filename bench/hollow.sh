#!/usr/bin/env bash
# The placement-at-scale figures, each one JSON line (see `shoal sim bench --help`):
#   scheduler only: 50,000 tasks on 5,000 nodes (the kube-scheduler case SchedulingBasic 5000Nodes_50000Pods)
#   end to end:     one service of 100,000 replicas on 5,000 hollow nodes, until every task reports running
#   C1M shape:      1,000 services x 1,000 replicas on 5,000 hollow nodes (long; pass "c1m" to run it)
#   Kubernetes:     clusterloader2's load test on 5,000 hollow nodes (150,000 Pods in 16,400 Deployments)
set -euo pipefail
shoal sim bench --nodes 5000 --services 10 --replicas 5000 --scheduler-only --json
shoal sim bench --nodes 5000 --services 1 --replicas 100000 --json
shoal sim bench --nodes 5000 --kube-load --json
if [ "${1:-}" = "c1m" ]; then
  shoal sim bench --nodes 5000 --services 1000 --replicas 1000 --json
fi
