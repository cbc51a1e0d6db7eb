#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running single-node swarm with a demo service:
# installs what is needed, starts `shoal daemon` in the background, imports a busybox-based web
# image, inits the swarm, deploys a replicated service, scales it and shows `service ps`.
# The daemon keeps running afterwards; point the docker CLI (or `shoal`) at it with
#   export DOCKER_HOST=unix:///run/shoal/shoal.sock
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

DATA_ROOT=${SHOAL_DATA_ROOT:-/var/lib/shoal}
EXEC_ROOT=${SHOAL_EXEC_ROOT:-/run/shoal}
SOCK="$EXEC_ROOT/shoal.sock"
export DOCKER_HOST="unix://$SOCK"
shoal_cli() { shoal -H "$DOCKER_HOST" "$@"; }

if ! curl -sf --unix-socket "$SOCK" http://shoal/_ping >/dev/null 2>&1; then
  mkdir -p "$EXEC_ROOT"
  nohup shoal daemon --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" -H "$DOCKER_HOST" \
    >"$EXEC_ROOT/daemon.log" 2>&1 &
  echo $! >"$EXEC_ROOT/daemon.pid"
  for _ in $(seq 100); do
    curl -sf --unix-socket "$SOCK" http://shoal/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "shoal daemon started (pid $(cat "$EXEC_ROOT/daemon.pid"), log $EXEC_ROOT/daemon.log)"
fi

# A tiny web server image from busybox-static (no registry needed).
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/www"
cp /bin/busybox "$rootfs/bin/busybox"
for a in sh httpd sleep echo cat ls hostname nc; do ln -sf busybox "$rootfs/bin/$a"; done
echo "hello from shoal" >"$rootfs/www/index.html"
tar -C "$rootfs" -c . | shoal_cli import -c 'CMD ["httpd","-f","-p","80","-h","/www"]' - nginx:latest

shoal_cli swarm init --advertise-addr 127.0.0.1 2>/dev/null || echo "(this node is already in a swarm)"
shoal_cli service rm webserver >/dev/null 2>&1 || true
shoal_cli service create --name webserver --replicas 2 nginx
shoal_cli service scale webserver=5
shoal_cli service ls
shoal_cli service ps webserver
echo
echo "Try: export DOCKER_HOST=$DOCKER_HOST; docker service ls; docker node ls"
