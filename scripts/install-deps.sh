#!/usr/bin/env bash
# Installs what shoal and its tests need on Debian 12 (run as root): runc, busybox-static (tiny test
# images), tini, iproute2 (ip, bridge), nftables, curl, util-linux (nsenter, unshare), etcd-server,
# docker-registry, skopeo and apache2-utils (htpasswd) for the registry tests, docker.io (dockerd: the
# docker runtime's tests start one of their own, never the system's), docker-compose (1.29, for the compose
# tests), and the Python package with its test extras (pyroute2, dnslib, aetcd, docker among its dependencies). Debian's docker-registry service is not
# started here (the tests run their own registry on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (shoal runs containers with runc)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in runc busybox-static tini iproute2 nftables curl util-linux tar tzdata python3-pip etcd-server \
           docker-registry skopeo apache2-utils docker.io docker-compose \
           nginx-light openssl \
           chromium; do  # nginx: the Ingresses' proxy (network/kubeingress.py); chromium: the console's browser tests
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# A failed install fails the script (pip's root and index-location warnings are not shown).
if ! out=$(python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$out" | grep -v -e "^WARNING: Running pip as the 'root' user" -e "^WARNING: Location" -e '^$' || true
