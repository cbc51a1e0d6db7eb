#!/usr/bin/env bash
# Installs what shoal and its tests need on Debian 12 (run as root): runc, busybox-static (tiny test
# images), tini, iproute2, nftables, curl, and the Python package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (shoal runs containers with runc)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in runc busybox-static tini iproute2 nftables curl util-linux tar python3-pip etcd-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -e "^WARNING: Running pip as the 'root' user" -e "^WARNING: Location" || true
