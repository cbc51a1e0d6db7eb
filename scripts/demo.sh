#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running single-node swarm with a demo service:
# installs what is needed, starts `shoal daemon` in the background, imports a busybox-based web
# image, inits the swarm, deploys a replicated service, scales it and shows `service ps`; then, on the
# same cluster through its Kubernetes API, creates a Secret, runs a Pod that uses it and a Deployment
# of three replicas and a Job with kubectl, exposes the Deployment as a Service reached by name from
# the Pod, and through an Ingress on the node's port 80. A `docker run` shows a container of the node's own.
# Last, a few lines of the manager's /metrics and where its web console is.
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
for a in sh httpd sleep echo cat ls hostname nc nslookup; do ln -sf busybox "$rootfs/bin/$a"; done
echo "hello from shoal" >"$rootfs/www/index.html"
tar -C "$rootfs" -c . | shoal_cli import -c 'CMD ["httpd","-f","-p","80","-h","/www"]' - nginx:latest

shoal_cli swarm init --advertise-addr 127.0.0.1 2>/dev/null || echo "(this node is already in a swarm)"
shoal_cli service rm webserver >/dev/null 2>&1 || true
shoal_cli service create --name webserver --replicas 2 nginx
shoal_cli service scale webserver=5
shoal_cli service ls
shoal_cli service ps webserver

# A container of the node's own, beside the swarm's tasks (the real docker CLI, as against dockerd).
if command -v docker >/dev/null 2>&1; then
  docker rm -f hello >/dev/null 2>&1 || true
  docker run --rm --name hello nginx sh -c 'echo "hello from a container on $(hostname)"'
fi

# The Kubernetes side of the same cluster (kubectl: the machine's; an admin kubeconfig from shoal).
if command -v kubectl >/dev/null 2>&1; then
  KUBECONFIG="$EXEC_ROOT/kubeconfig"
  export KUBECONFIG
  shoal_cli kubeconfig >"$KUBECONFIG"
  chmod 600 "$KUBECONFIG"
  kcache=$(mktemp -d)  # a fresh cache: the kubectl dispatcher caches the server's version
  trap 'rm -rf "$rootfs" "$kcache"' EXIT
  k() { kubectl --cache-dir "$kcache" "$@"; }
  for _ in $(seq 100); do k get --raw /version >/dev/null 2>&1 && break; sleep 0.2; done
  k get nodes -o wide
  k delete pod mywebserver --ignore-not-found --grace-period=1 >/dev/null
  k delete secret db --ignore-not-found >/dev/null
  k create secret generic db --from-literal=password=s3cr3t
  k apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: mywebserver
spec:
  containers:
  - name: mywebserver
    image: nginx
    imagePullPolicy: IfNotPresent
    env:
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {name: db, key: password}
    volumeMounts:
    - {name: db, mountPath: /etc/db, readOnly: true}
  volumes:
  - name: db
    secret: {secretName: db}
YAML
  k wait --for=condition=Ready pod/mywebserver --timeout=60s
  k delete deployment web --ignore-not-found >/dev/null
  k apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - {name: web, image: nginx, imagePullPolicy: IfNotPresent}
YAML
  k rollout status deployment/web --timeout=60s
  k get deploy,rs,pods -o wide
  k delete job once --ignore-not-found >/dev/null
  k apply -f - <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: once, image: nginx, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo the job ran to completion"]}
YAML
  k wait --for=condition=complete job/once --timeout=60s
  k logs job/once
  k exec mywebserver -- sh -c 'echo "the secret in the file: $(cat /etc/db/password), in the environment: $DB_PASSWORD"'
  k exec mywebserver -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc 127.0.0.1 80 | tail -n 1'
  # Services: the Deployment behind a ClusterIP, reached by name from the Pod (cluster DNS at 172.16.0.10,
  # the Service's rules on the node), and behind an Ingress served by the node's nginx on port 80.
  k delete service web --ignore-not-found >/dev/null
  k expose deployment web --port=80
  k get service web -o wide
  k get endpoints web
  k exec mywebserver -- sh -c 'cat /etc/resolv.conf; nslookup web.default.svc.cluster.local | tail -n 3'
  k exec mywebserver -- sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc web 80 | tail -n 1'
  if command -v nginx >/dev/null 2>&1; then
    k delete ingress web --ignore-not-found >/dev/null
    k create ingress web --class=shoal --rule='web.example/*=web:80'
    for _ in $(seq 100); do
      curl -sf -H 'Host: web.example' http://127.0.0.1/ && break
      sleep 0.2
    done
  fi
  echo
  echo "Try: export KUBECONFIG=$KUBECONFIG; kubectl get pods -o wide; kubectl describe pod mywebserver"
else
  echo "(kubectl is not installed: the Kubernetes API is on https://127.0.0.1:6443; shoal kubeconfig prints a kubeconfig)"
fi
# Seeing the cluster: the console and /metrics on the manager's loopback (shoal daemon --ui-addr).
echo
echo "Metrics (Prometheus text format, http://127.0.0.1:9090/metrics), a few of them:"
curl -sf http://127.0.0.1:9090/metrics | grep -E '^shoal_(nodes|services|deployments|tasks_pending)[{ ]' | head -n 8 || true
echo
echo "The console: open http://127.0.0.1:9090/ (nodes as columns, their tasks and Pods as cards, live);"
echo "scaling, draining and rolling back from it need the login token that 'shoal ui-token' prints."
echo "Try: export DOCKER_HOST=$DOCKER_HOST; docker service ls; docker node ls"
