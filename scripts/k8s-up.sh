#!/usr/bin/env bash
# Start (or stop) one etcd + kube-apiserver pair on free loopback ports, for tests.
#
#   eval "$(scripts/k8s-up.sh NAME)"      # prints export lines: KUBECONFIG, K8S_<NAME>_*
#   scripts/k8s-up.sh --json NAME         # one JSON object instead
#   scripts/k8s-up.sh --down NAME         # stop that pair by PID and remove its directory
#   scripts/k8s-up.sh --owner-pid PID NAME  # also stop the pair once process PID has gone
#                                         # (tests pass their own PID, so nothing outlives them)
#   scripts/k8s-up.sh --workloads NAME    # also kube-controller-manager, kube-scheduler and kwok
#                                         # with fake nodes (WORKLOADS=1 does the same)
#
# By default there is no controller-manager, scheduler or kubelet: this is an API server only
# (namespaces stay Terminating, no garbage collection, no default ServiceAccount). With
# --workloads, Deployments make ReplicaSets and Pods, the scheduler puts pods on kwok's fake nodes,
# kwok marks them Running and Ready with pod IPs (nothing really runs), EndpointSlices are filled,
# namespaces finish deleting and owner references are garbage-collected.
#
# Environment:
#   K8S_VERSION         kubernetes release (default v1.37.2); built first when missing
#   MESHPEER_CACHE      cache root of k8s-build.sh (default $HOME/.cache/meshpeer)
#   KUBE_APISERVER, ETCD  use these binaries instead of the built ones
#   K8S_RUN_DIR         parent of the per-cluster directories (default ${TMPDIR:-/tmp}/meshpeer-k8s-$UID)
#   K8S_READY_TIMEOUT   seconds to wait for /readyz (default 60)
#   K8S_APISERVER_ARGS  extra kube-apiserver flags, split on spaces
#   KEEP=1              with --down, or when a start fails: keep the directory (logs, etcd data)
#   WORKLOADS=1         same as --workloads
#   K8S_NODES           number of fake nodes with --workloads (default 2; 110 pods each)
#   K8S_POD_CIDR        the pod IP range kwok gives out with --workloads (default 10.244.0.0/16)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=${K8S_VERSION:-v1.37.2}
RUN_ROOT=${K8S_RUN_DIR:-${TMPDIR:-/tmp}/meshpeer-k8s-$(id -u)}
READY_TIMEOUT=${K8S_READY_TIMEOUT:-60}

log() { printf 'k8s-up: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
usage() { echo "usage: $0 [--json] [--workloads] [--owner-pid PID] NAME | --down NAME" >&2; exit 2; }

MODE=up
WORKLOADS=${WORKLOADS:-0}
NODES=${K8S_NODES:-2}
FORMAT=env
NAME=
OWNER_PID=
while [[ $# -gt 0 ]]; do
  case $1 in
    --down) MODE=down ;;
    --json) FORMAT=json ;;
    --workloads) WORKLOADS=1 ;;
    --owner-pid)
      [[ ${2:-} =~ ^[0-9]+$ ]] || usage
      OWNER_PID=$2
      shift
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) [[ -z $NAME ]] || usage; NAME=$1 ;;
  esac
  shift
done
[[ -n $NAME ]] || usage
[[ $NAME =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] || die "NAME may hold only letters, digits, '.', '_' and '-'"
DIR=$RUN_ROOT/$NAME

# A PID is ours only while its command line still names our directory: a reused PID never is.
owned_pid() {
  local pidfile=$1 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  echo "$pid"
}

stop_pid() {
  local pidfile=$1 pid i
  pid=$(owned_pid "$pidfile") || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  # owned_pid also fails for a zombie (its cmdline is empty), which init may reap late.
  for ((i = 0; i < 100; i++)); do
    owned_pid "$pidfile" >/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid ignored TERM for 10 s, sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [[ -d $DIR ]] || { log "$NAME: not running (no $DIR)"; return 0; }
  local c
  for c in kwok kube-scheduler kube-controller-manager; do stop_pid "$DIR/$c.pid"; done
  stop_pid "$DIR/kube-apiserver.pid"
  stop_pid "$DIR/etcd.pid"
  if [[ ${KEEP:-0} == 1 ]]; then
    log "$NAME: stopped; kept $DIR"
  else
    rm -rf "$DIR"
    log "$NAME: stopped"
  fi
}

if [[ $MODE == down ]]; then
  down
  exit 0
fi

# ---- up ----------------------------------------------------------------------------------

if [[ -d $DIR ]]; then
  if owned_pid "$DIR/kube-apiserver.pid" >/dev/null || owned_pid "$DIR/etcd.pid" >/dev/null; then
    die "$NAME is already running ($DIR); stop it with: $0 --down $NAME"
  fi
  rm -rf "$DIR" # left over from a run that did not stop cleanly
fi

BIN=${MESHPEER_CACHE:-$HOME/.cache/meshpeer}/k8s/$VERSION/bin
APISERVER=${KUBE_APISERVER:-$BIN/kube-apiserver}
ETCD_BIN=${ETCD:-$BIN/etcd}
if [[ ! -x $APISERVER || ! -x $ETCD_BIN ]]; then
  log "binaries for $VERSION are missing; building them (about 5 min once per machine)"
  "$HERE/k8s-build.sh" "$VERSION" >&2
fi
for b in "$APISERVER" "$ETCD_BIN"; do [[ -x $b ]] || die "not executable: $b"; done
if [[ $WORKLOADS == 1 ]]; then
  [[ $NODES =~ ^[1-9][0-9]{0,2}$ ]] || die "K8S_NODES must be a number from 1 to 999, got '$NODES'"
  if [[ ! -x $BIN/kube-controller-manager || ! -x $BIN/kube-scheduler || ! -x $BIN/kwok ]]; then
    log "controller-manager, scheduler or kwok for $VERSION missing; building them"
    "$HERE/k8s-build.sh" "$VERSION" >&2
  fi
  for b in kube-controller-manager kube-scheduler kwok; do [[ -x $BIN/$b ]] || die "not executable: $BIN/$b"; done
fi
command -v curl >/dev/null || die "curl is required"
command -v openssl >/dev/null || die "openssl is required"

mkdir -p "$RUN_ROOT"
mkdir -m 700 "$DIR"
mkdir -p "$DIR/certs"
START_MS=$(date +%s%3N)

STARTED=0
cleanup_on_failure() {
  if [[ $STARTED == 0 ]]; then
    for f in "$DIR"/*.log; do
      [[ -f $f ]] || continue
      log "---- last lines of $f"
      tail -n 20 "$f" >&2 || true
    done
    [[ ${KEEP:-0} == 1 ]] || log "removing $DIR (KEEP=1 keeps it for a look)"
    down
  fi
}
trap cleanup_on_failure EXIT

# A port nobody listens on, from 20000-59999. Races with other starters are handled by
# retrying when a bind fails.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# ---- credentials ----
TOKEN=$(openssl rand -hex 24)
printf '%s,admin,admin-uid,"system:masters"\n' "$TOKEN" >"$DIR/tokens.csv"
chmod 600 "$DIR/tokens.csv"
openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null

# ---- etcd ----
ETCD_HELP=$("$ETCD_BIN" --help 2>&1 || true) # captured: a pipe into grep -q would risk SIGPIPE
NOFSYNC=()
case $ETCD_HELP in *--unsafe-no-fsync*) NOFSYNC=(--unsafe-no-fsync) ;; esac

start_etcd() {
  EP=$(free_port) && PP=$(free_port) || die "no free port"
  [[ $EP != "$PP" ]] || return 1
  rm -rf "$DIR/etcd-data"
  "$ETCD_BIN" --name "$NAME" --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
    --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
    --initial-cluster "$NAME=http://127.0.0.1:$PP" --initial-cluster-state new \
    --logger zap --log-level warn "${NOFSYNC[@]}" \
    </dev/null >"$DIR/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"
  local pid=$! i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    case $(curl -s --max-time 1 "http://127.0.0.1:$EP/health" 2>/dev/null || true) in
      *'"health":"true"'*) return 0 ;;
    esac
    sleep 0.05
  done
  die "etcd did not become healthy within 15 s (log: $DIR/etcd.log)"
}

ok=0
for attempt in 1 2 3 4 5; do
  if start_etcd; then ok=1; break; fi
  log "etcd failed to start (attempt $attempt), retrying with other ports"
  stop_pid "$DIR/etcd.pid"
done
[[ $ok == 1 ]] || die "etcd would not start (log: $DIR/etcd.log)"
ETCD_MS=$(($(date +%s%3N) - START_MS))

# ---- kube-apiserver ----
read -r -a EXTRA <<<"${K8S_APISERVER_ARGS:-}"

start_apiserver() {
  AP=$(free_port) || die "no free port"
  rm -f "$DIR/certs/apiserver.crt" "$DIR/certs/apiserver.key"
  "$APISERVER" --etcd-servers "http://127.0.0.1:$EP" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$AP" \
    --cert-dir "$DIR/certs" \
    --token-auth-file "$DIR/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-key-file "$DIR/sa.pub" --service-account-signing-key-file "$DIR/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
    --allow-privileged=true --profiling=false \
    "${EXTRA[@]}" \
    </dev/null >"$DIR/kube-apiserver.log" 2>&1 &
  echo $! >"$DIR/kube-apiserver.pid"
  local pid=$! i deadline code
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      grep -q 'address already in use' "$DIR/kube-apiserver.log" && return 1
      die "kube-apiserver exited (log: $DIR/kube-apiserver.log)"
    fi
    code=$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' \
      -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$AP/readyz" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  die "kube-apiserver not ready after ${READY_TIMEOUT} s (log: $DIR/kube-apiserver.log)"
}

ok=0
for attempt in 1 2 3 4 5; do
  if start_apiserver; then ok=1; break; fi
  log "kube-apiserver port was taken (attempt $attempt), retrying"
  stop_pid "$DIR/kube-apiserver.pid"
done
[[ $ok == 1 ]] || die "kube-apiserver would not start"
READY_MS=$(($(date +%s%3N) - START_MS))

# ---- kubeconfig ----
# kube-apiserver wrote a self-signed serving certificate (with its CA) into --cert-dir; its SANs
# hold 127.0.0.1, so clients verify TLS properly.
SERVER=https://127.0.0.1:$AP
CA=$(base64 -w0 <"$DIR/certs/apiserver.crt")
KUBECONFIG_FILE=$DIR/kubeconfig
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $NAME
    cluster:
      server: $SERVER
      certificate-authority-data: $CA
users:
  - name: $NAME-admin
    user:
      token: $TOKEN
contexts:
  - name: $NAME
    context:
      cluster: $NAME
      user: $NAME-admin
      namespace: default
current-context: $NAME
EOF
chmod 600 "$KUBECONFIG_FILE"

# ---- workloads: controller-manager, scheduler, kwok and its fake nodes ----
WORKLOADS_MS=0
if [[ $WORKLOADS == 1 ]]; then
  api() { # METHOD PATH [BODY]: the API server as the admin; prints the body, fails on HTTP >= 400
    curl -sS --fail-with-body --max-time 10 --cacert "$DIR/certs/apiserver.crt" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -X "$1" "$SERVER$2" ${3:+--data "$3"}
  }
  # Neither serves anything we need: --secure-port 0 turns their HTTPS endpoint off.
  "$BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
    --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$DIR/sa.key" --root-ca-file "$DIR/certs/apiserver.crt" \
    --use-service-account-credentials=false \
    --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 --kube-api-qps 200 --kube-api-burst 400 \
    </dev/null >"$DIR/kube-controller-manager.log" 2>&1 &
  echo $! >"$DIR/kube-controller-manager.pid"
  "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" --secure-port 0 --leader-elect=false \
    --kube-api-qps 200 --kube-api-burst 400 \
    </dev/null >"$DIR/kube-scheduler.log" 2>&1 &
  echo $! >"$DIR/kube-scheduler.pid"
  # kwok plays the kubelet of every node annotated kwok.x-k8s.io/node=fake: heartbeats, and pods
  # scheduled there become Running and Ready with an IP from --cidr (K8S_POD_CIDR: a loopback range
  # lets tests run the pods' sidecars on this host at their pod IPs).
  "$BIN/kwok" --kubeconfig "$KUBECONFIG_FILE" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --config "$HERE/kwok-stages.yaml" --node-lease-duration-seconds 40 \
    --cidr "${K8S_POD_CIDR:-10.244.0.0/16}" --node-ip 127.0.0.1 --server-address '' \
    </dev/null >"$DIR/kwok.log" 2>&1 &
  echo $! >"$DIR/kwok.pid"
  for ((n = 1; n <= NODES; n++)); do
    node='{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-'$n'",'
    node+='"annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},'
    node+='"labels":{"kubernetes.io/hostname":"kwok-node-'$n'","kubernetes.io/os":"linux","type":"kwok"}},'
    node+='"status":{"allocatable":{"cpu":"64","memory":"256Gi","pods":"110"},'
    node+='"capacity":{"cpu":"64","memory":"256Gi","pods":"110"}}}'
    api POST /api/v1/nodes "$node" >/dev/null || die "could not create node kwok-node-$n"
  done
  # Ready when every fake node is Ready and the default ServiceAccount exists (pods need it).
  deadline=$((SECONDS + READY_TIMEOUT))
  while :; do
    for c in kube-controller-manager kube-scheduler kwok; do
      owned_pid "$DIR/$c.pid" >/dev/null || die "$c exited (log: $DIR/$c.log)"
    done
    nodes_json=$(api GET /api/v1/nodes 2>/dev/null || true)
    # Each Ready condition object (no nested braces), in whatever field order, then its status.
    ready=$(tr -d ' \n' <<<"$nodes_json" | grep -o '{[^{}]*"type":"Ready"[^{}]*}' |
      grep -c '"status":"True"' || true)
    if [[ $ready -ge $NODES ]] && api GET /api/v1/namespaces/default/serviceaccounts/default >/dev/null 2>&1; then
      break
    fi
    ((SECONDS < deadline)) || die "workloads not ready after ${READY_TIMEOUT} s ($ready of $NODES nodes Ready)"
    sleep 0.2
  done
  WORKLOADS_MS=$(($(date +%s%3N) - START_MS))
fi

VAR=K8S_$(printf '%s' "$NAME" | tr 'a-z.-' 'A-Z__')
{
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  echo "export ${VAR}_KUBECONFIG=$KUBECONFIG_FILE"
  echo "export ${VAR}_SERVER=$SERVER"
  echo "export ${VAR}_ETCD=http://127.0.0.1:$EP"
  echo "export ${VAR}_DIR=$DIR"
} >"$DIR/env"

WORKLOADS_JSON=
if [[ $WORKLOADS == 1 ]]; then
  WORKLOADS_JSON=",\"nodes\":$NODES,\"workloadsReadyMs\":$WORKLOADS_MS"
  for c in kube-controller-manager kube-scheduler kwok; do
    WORKLOADS_JSON+=",\"$c-pid\":$(<"$DIR/$c.pid")"
  done
fi
cat >"$DIR/state.json" <<EOF
{"name":"$NAME","version":"$VERSION","kubeconfig":"$KUBECONFIG_FILE","server":"$SERVER","token":"$TOKEN","etcd":"http://127.0.0.1:$EP","dir":"$DIR","apiserverPid":$(<"$DIR/kube-apiserver.pid"),"etcdPid":$(<"$DIR/etcd.pid"),"etcdHealthyMs":$ETCD_MS,"readyMs":$READY_MS$WORKLOADS_JSON}
EOF

STARTED=1

# The watchdog: once the owner is gone (even killed with SIGKILL), stop the pair. It ends by
# itself when the directory is removed by an ordinary --down.
if [[ -n $OWNER_PID ]]; then
  (
    trap '' HUP INT
    while [[ -d $DIR ]] && kill -0 "$OWNER_PID" 2>/dev/null; do sleep 1; done
    [[ ! -d $DIR ]] || "$HERE/k8s-up.sh" --down "$NAME"
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$DIR/watchdog.pid"
fi
log "$NAME ready at $SERVER in ${READY_MS} ms (etcd healthy after ${ETCD_MS} ms)$(
  [[ $WORKLOADS == 1 ]] && echo "; workloads ($NODES kwok nodes) ready after ${WORKLOADS_MS} ms"
); stop with: $0 --down $NAME"
if [[ $FORMAT == json ]]; then
  cat "$DIR/state.json"
else
  cat "$DIR/env"
fi
