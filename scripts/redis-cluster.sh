#!/usr/bin/env bash
# A local Redis Cluster for din (tests, benchmarks, a laptop): 3 masters + 3 replicas on 127.0.0.1.
#
#   scripts/redis-cluster.sh start  DIR [BASE_PORT]   # ports BASE_PORT..BASE_PORT+5 (default 7000), state under DIR
#   scripts/redis-cluster.sh stop   DIR               # shuts down every node started under DIR
#   scripts/redis-cluster.sh status DIR               # nodes, roles, pids, cluster state
#
# Then: din … --store redis://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
#
# Every node has its own directory DIR/<port>/ (redis.conf, nodes.conf, redis.pid, redis.log, appendonlydir/).
# Nodes run `cluster-enabled yes`, `appendonly yes` + `appendfsync everysec`, `daemonize yes`, and a short
# `cluster-node-timeout` (2000 ms: a dead master's replica is promoted within a few seconds) for tests.
# The cluster bus of each node uses port+10000, which must be free too.
#
# Start on a DIR that already holds a cluster (DIR/cluster.env exists) RESTARTS it: the nodes that are not running
# are started again from their nodes.conf and AOF (same ports; a BASE_PORT other than the recorded one is an error),
# and it waits until the cluster is healthy again. Nodes that are still running are left alone. To start from
# scratch, stop it and remove DIR.
#
# Environment:
#   REDIS_CLUSTER_NODE_TIMEOUT  cluster-node-timeout in ms (default 2000)
#   REDIS_CLUSTER_WAIT          seconds to wait for the cluster to become healthy (default 60)
#   REDIS_CLUSTER_HOST          address the nodes bind and announce (default 127.0.0.1)
#   REDIS_SERVER, REDIS_CLI     the binaries (default: redis-server, redis-cli from PATH)
#
# Exit status: 0 on success; 1 with a message on stderr otherwise.
set -euo pipefail

NODES=6
HOST="${REDIS_CLUSTER_HOST:-127.0.0.1}"
NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
WAIT_S="${REDIS_CLUSTER_WAIT:-60}"
SERVER="${REDIS_SERVER:-redis-server}"
CLI="${REDIS_CLI:-redis-cli}"

die() { echo "redis-cluster.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|status DIR [BASE_PORT]"; }

need_tools() {
  command -v "$SERVER" >/dev/null 2>&1 || die "$SERVER not found: install Redis (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)"
  command -v "$CLI" >/dev/null 2>&1 || die "$CLI not found: install Redis (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis)"
}

# redis-cli against one node, bounded in time (a stopped or hung node never blocks this script).
rcli() { local port="$1"; shift; timeout 5 "$CLI" -h "$HOST" -p "$port" "$@" 2>/dev/null; }

# Whether something accepts TCP connections on HOST:port.
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Whether process `pid` runs (a zombie, exited but not yet reaped by init, does not).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local st
    st="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$st" != Z && "$st" != X ]]
  fi
}

# The pid of the node on `port` if it is running (its pidfile names a live redis-server), else nothing.
node_pid() {
  local port="$1" f="$DIR/$1/redis.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] || return 0
  alive "$pid" || return 0
  # A pid can be reused by another process after a crash: only a redis-server is ours.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "redis-server" || return 0
  fi
  echo "$pid"
}

ports() { local i; for ((i = 0; i < NODES; i++)); do echo $((BASE + i)); done; }

write_conf() {
  local port="$1" d="$DIR/$1"
  mkdir -p "$d"
  cat >"$d/redis.conf" <<EOF
# Written by scripts/redis-cluster.sh (din). Node $port of a local cluster.
bind $HOST
port $port
dir $d
daemonize yes
pidfile $d/redis.pid
logfile $d/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $NODE_TIMEOUT
# A replica takes over however long it was disconnected (a test kills masters at any time).
cluster-replica-validity-factor 0
appendonly yes
appendfsync everysec
# The AOF is the durable copy; no RDB snapshots.
save ""
# A replica's first sync starts at once (the default waits 5 s for more replicas to batch them).
repl-diskless-sync-delay 0
# Blobs (checkpoints) are written in chunks of up to 32 MB: let a replica's output buffer hold several.
client-output-buffer-limit replica 1gb 512mb 60
EOF
}

start_node() {
  local port="$1"
  "$SERVER" "$DIR/$port/redis.conf" >/dev/null || die "redis-server on port $port failed to start; see $DIR/$port/redis.log"
}

# Waits until the node on `port` answers, and is the process of our pidfile (not another server that took the port).
wait_ping() {
  local port="$1" deadline=$((SECONDS + 15)) pid
  while :; do
    pid="$(node_pid "$port")"
    if [[ -n "$pid" ]] && rcli "$port" info server | tr -d '\r' | grep -q "^process_id:$pid\$"; then return 0; fi
    ((SECONDS < deadline)) || die "node $HOST:$port did not start within 15 s (port taken by another process?); see $DIR/$port/redis.log"
    sleep 0.1
  done
}

# Waits until every node reports cluster_state:ok with all 16384 slots ok, 6 known nodes, and every master has a
# connected replica.
wait_healthy() {
  local deadline=$((SECONDS + WAIT_S)) port info why
  while :; do
    why=""
    for port in $(ports); do
      info="$(rcli "$port" cluster info | tr -d '\r')"
      if ! grep -q '^cluster_state:ok$' <<<"$info"; then why="node $port: $(grep '^cluster_state:' <<<"$info" || echo 'no answer')"; break; fi
      if ! grep -q '^cluster_slots_ok:16384$' <<<"$info"; then why="node $port: $(grep '^cluster_slots_ok:' <<<"$info") of 16384 slots ok"; break; fi
      if ! grep -q "^cluster_known_nodes:$NODES\$" <<<"$info"; then why="node $port: $(grep '^cluster_known_nodes:' <<<"$info")"; break; fi
      if rcli "$port" role | head -1 | grep -q '^master$'; then
        if ! rcli "$port" info replication | tr -d '\r' | grep -q '^slave0:.*state=online'; then why="master $port: no replica online yet"; break; fi
      fi
    done
    [[ -z "$why" ]] && return 0
    [[ -z "${REDIS_CLUSTER_DEBUG:-}" ]] || echo "[$SECONDS s] waiting: $why" >&2
    if ((SECONDS >= deadline)); then
      die "the cluster in $DIR is not healthy after ${WAIT_S} s ($why); see the logs in $DIR/<port>/redis.log"
    fi
    sleep 0.2
  done
}

cmd_start() {
  need_tools
  local port pid fresh=1 created
  if [[ -f "$DIR/cluster.env" ]]; then
    fresh=0
    local recorded
    recorded="$(sed -n 's/^BASE_PORT=//p' "$DIR/cluster.env")"
    if [[ -n "$BASE_ARG" && "$BASE_ARG" != "$recorded" ]]; then
      die "$DIR holds a cluster on ports $recorded..$((recorded + NODES - 1)), not $BASE_ARG: stop it and remove $DIR to start another"
    fi
    BASE="$recorded"
  fi
  if ((fresh)); then
    for port in $(ports); do
      port_busy "$port" && die "port $port is busy (another process listens on $HOST:$port): pick another BASE_PORT"
      port_busy $((port + 10000)) && die "port $((port + 10000)) (cluster bus of $port) is busy: pick another BASE_PORT"
    done
    mkdir -p "$DIR"
    for port in $(ports); do
      [[ -z "$(node_pid "$port")" ]] || die "a node runs in $DIR/$port but $DIR has no cluster.env (an interrupted start?): $0 stop $DIR, then start again"
      rm -rf "${DIR:?}/$port" # leftovers of an interrupted start (nodes.conf, AOF) would make a node refuse to join
    done
    # Until the cluster is recorded, a failure stops the nodes started so far (nothing is left running).
    trap 'if [[ ! -f "$DIR/cluster.env" ]]; then stop_nodes >/dev/null 2>&1 || true; fi' EXIT
    for port in $(ports); do write_conf "$port"; done
    for port in $(ports); do start_node "$port"; done
    for port in $(ports); do wait_ping "$port"; done
    local addrs=()
    for port in $(ports); do addrs+=("$HOST:$port"); done
    created="$(timeout 60 "$CLI" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1)" || {
      echo "$created" >&2
      die "redis-cli --cluster create failed (above)"
    }
    printf 'BASE_PORT=%s\nHOST=%s\nNODES=%s\n' "$BASE" "$HOST" "$NODES" >"$DIR/cluster.env"
  else
    for port in $(ports); do
      pid="$(node_pid "$port")"
      if [[ -z "$pid" ]]; then
        port_busy "$port" && die "port $port is busy but no node of $DIR runs there: free it or stop the other process"
        write_conf "$port"
        start_node "$port"
      fi
    done
    for port in $(ports); do wait_ping "$port"; done
  fi
  wait_healthy
  local seeds=()
  for port in $(ports); do seeds+=("$HOST:$port"); done
  echo "redis cluster up: redis://$(IFS=,; echo "${seeds[*]}") (state in $DIR)"
}

cmd_stop() {
  [[ -d "$DIR" ]] || die "$DIR does not exist"
  stop_nodes
}

# SHUTDOWN NOSAVE every running node of DIR (by its pidfile), then kill -9 what is still running after 5 s.
stop_nodes() {
  local port pid left=() d
  for d in "$DIR"/*/; do
    port="$(basename "$d")"
    [[ "$port" =~ ^[0-9]+$ ]] || continue
    pid="$(node_pid "$port")"
    [[ -n "$pid" ]] || continue
    rcli "$port" shutdown nosave now >/dev/null &
    left+=("$port:$pid")
  done
  wait
  local deadline=$((SECONDS + 5)) item
  for item in "${left[@]+"${left[@]}"}"; do
    port="${item%%:*}"
    pid="${item##*:}"
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if alive "$pid"; then
      kill -9 "$pid" 2>/dev/null || true
      echo "node $port (pid $pid) did not shut down: killed" >&2
    fi
    rm -f "$DIR/$port/redis.pid"
  done
  echo "redis cluster in $DIR stopped (${#left[@]} nodes were running)"
}

cmd_status() {
  [[ -f "$DIR/cluster.env" ]] || die "no cluster in $DIR (no cluster.env): start one with $0 start $DIR"
  BASE="$(sed -n 's/^BASE_PORT=//p' "$DIR/cluster.env")"
  local port pid role state running=0
  printf '%-22s %-8s %-8s %s\n' ADDRESS PID ROLE STATE
  for port in $(ports); do
    pid="$(node_pid "$port")"
    if [[ -n "$pid" ]]; then
      running=$((running + 1))
      role="$(rcli "$port" role | head -1)"
      state="$(rcli "$port" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')"
      printf '%-22s %-8s %-8s %s\n' "$HOST:$port" "$pid" "${role:-?}" "${state:-no answer}"
    else
      printf '%-22s %-8s %-8s %s\n' "$HOST:$port" "-" "-" "not running"
    fi
  done
  echo "$running of $NODES nodes running (state in $DIR)"
}

[[ $# -ge 2 ]] || usage
ACTION="$1"
DIR="$2"
BASE_ARG="${3:-}"
[[ -z "$BASE_ARG" || "$BASE_ARG" =~ ^[0-9]+$ ]] || die "BASE_PORT must be a number, not '$BASE_ARG'"
BASE="${BASE_ARG:-7000}"
((BASE > 0 && BASE + NODES - 1 + 10000 <= 65535)) || die "BASE_PORT $BASE out of range (ports and bus ports up to $((BASE + NODES - 1 + 10000)) must be < 65536)"
[[ "$ACTION" != start ]] || mkdir -p "$(dirname "$DIR")"
[[ -d "$(dirname "$DIR")" ]] || die "$(dirname "$DIR") does not exist"
DIR="$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")"

case "$ACTION" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
