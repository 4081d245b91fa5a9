#!/usr/bin/env bash
# emulate.sh -- N emulated cluster nodes on one machine (Linux network namespaces), for tests and
# for trying the multi-node instructions of the README without a cluster. Root only.
#
#   jobs/cluster/emulate.sh up N [--hostnames "h1 h2 ..."]   create nodes 1..N (removes leftovers first)
#   jobs/cluster/emulate.sh down                             remove everything `up` created (idempotent)
#   jobs/cluster/emulate.sh exec K CMD...                    run CMD on node K (its network, hostname)
#   jobs/cluster/emulate.sh mpirun [mpirun options] PROG...  mpirun from node 1 across the nodes
#   jobs/cluster/emulate.sh shape RATE|off                   tc tbf on every node's link (e.g. 50mbit)
#   jobs/cluster/emulate.sh link K up|down                   take node K's link down (a lost node)
#   jobs/cluster/emulate.sh check                            exit 77 with the reason if it cannot work here
#   jobs/cluster/emulate.sh slurm-up                         a Slurm cluster on the nodes (see below)
#   jobs/cluster/emulate.sh slurm CMD...                     CMD (sbatch, squeue, jobs/submit-study.sh ...) on
#                                                            node 1 with this cluster's SLURM_CONF
#
# What a node is: a network namespace <prefix>K with one veth (eth0, address <subnet>.K/24, no
# default route, no link to the host's interfaces) plugged into a bridge that lives in a namespace
# of its own (<prefix>br); /etc/netns/<prefix>K/hosts names every node (ip netns exec bind-mounts it
# over /etc/hosts); each command run on a node gets its own UTS namespace with the node's hostname
# (`unshare --uts`), so MPI_Get_processor_name and `hostname` differ per node. The nodes share the
# file system (so the results directory is "shared"), /tmp and the kernel.
#
# mpirun: Open MPI starts its daemons through an rsh agent (<state>/rsh-agent) that maps a node name
# to `ip netns exec <prefix>K unshare --uts`, with tree spawn off, TCP only on the emulated subnet,
# the daemons kept in the launcher's session (orte_leave_session_attached: a daemonized orted gets
# its own scheduler autogroup and twice the CPU) and yielding ranks (mpi_yield_when_idle: ranks
# busy-polling on shared cores see millisecond latencies) and the TCP BTL without its put
# protocol (btl_tcp_flags without put: see "Two-way transfers" below). `mpirun` adds a hostfile with
# slots=ATTNBENCH_EMU_SLOTS (default 2) per node unless the options name hosts themselves.
#
# Two-way transfers: with Open MPI's default TCP BTL flags a message beyond the eager limit goes
# by the put protocol as one fragment of the whole message, and the BTL writes one fragment at a
# time per connection (one connection per pair of ranks, btl_tcp_links 1). When both ranks of a
# pair send at once (every exchange, allgather, all-to-all and ring step), a control message a
# rank owes its peer (the reply that lets the peer's message start) can queue behind the rank's own
# whole outgoing message: the two directions then run one after the other, and the exchange takes
# between one and two times the one-way time depending on which rank reached the call first
# (measured, 2 x 4 MiB at a 10 Mbit/s tbf link: 3.6 to 6.9 s over repetitions of one run). Without
# put, ob1 sends the message in 128 KiB send fragments (btl_tcp_max_send_size), a control message
# waits behind at most a few of them, and both directions run at the link's rate (3.6 s every
# time; plain TCP sockets in both directions at once do the same). Real TCP clusters can set it too.
#
# Slurm (slurm-up; `down` stops it with the nodes): a munged of its own (its own key and socket, run
# on node 1), slurmctld on node 1, one slurmd per node started with `nsenter --net` + `unshare --uts
# --mount` (`ip netns exec` remounts /sys and slurmd then finds no cgroup file system), each with a
# private PMIx directory bind-mounted over one path (PMIxCliTmpDirBase: the nodes share /tmp) and
# its own spool directory. Its configuration is <state>/slurm/slurm.conf, used through SLURM_CONF
# (`slurm CMD` also sets OMPI_MCA_btl_tcp_flags, which jobs inherit: see "Two-way transfers"),
# so a Slurm cluster of the machine itself (jobs/slurm/local-cluster.sh) is neither used nor
# disturbed. Nodes: node1..nodeN, CPUs = the machine's cores each, one partition `emu`.
#
# Environment: ATTNBENCH_EMU_PREFIX (default abn; at most 8 characters, one cluster per prefix, so
# that two test scripts can run at once), ATTNBENCH_EMU_SUBNET (first three octets, default
# 10.231.0). State: /run/attnbench-emu/<prefix>/.
set -euo pipefail

readonly PREFIX=${ATTNBENCH_EMU_PREFIX:-abn}
readonly SUBNET=${ATTNBENCH_EMU_SUBNET:-10.231.0}
readonly STATE=/run/attnbench-emu/${PREFIX}
readonly BRNS=${PREFIX}br
readonly EXIT_SKIP=77
# Open MPI's TCP BTL flags without put (see "Two-way transfers" above): for mpirun and Slurm jobs.
readonly TCP_FLAGS=send,inplace,need-ack,need-csum
readonly SELF=$(readlink -f "${BASH_SOURCE[0]}")

log() { printf '[emulate %s] %s\n' "${PREFIX}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The MCA settings that make Open MPI work across the namespaces (see the header).
mca_args() {
  printf '%s\n' --mca plm_rsh_agent "${STATE}/rsh-agent" --mca plm_rsh_no_tree_spawn 1 \
    --mca btl tcp,self --mca btl_tcp_if_include "${SUBNET}.0/24" --mca oob_tcp_if_include "${SUBNET}.0/24" \
    --mca orte_leave_session_attached 1 --mca mpi_yield_when_idle 1 \
    --mca btl_tcp_flags "${TCP_FLAGS}"
}

node_count() { cat "${STATE}/nodes" 2>/dev/null || echo 0; }
hostname_of() { sed -n "${1}p" "${STATE}/hostnames"; }

cmd_check() {
  [ "$(id -u)" -eq 0 ] || { log "SKIP: emulated nodes need root (network namespaces, veth, bridges)"; exit "${EXIT_SKIP}"; }
  local b
  for b in ip unshare nsenter; do
    command -v "${b}" >/dev/null || { log "SKIP: '${b}' is not installed"; exit "${EXIT_SKIP}"; }
  done
  local probe="${PREFIX}probe"
  ip netns del "${probe}" 2>/dev/null || true
  if ! ip netns add "${probe}" 2>/dev/null; then
    log "SKIP: cannot create a network namespace here (no CAP_SYS_ADMIN / CAP_NET_ADMIN?)"; exit "${EXIT_SKIP}"
  fi
  if ! ip -n "${probe}" link add "${probe}a" type veth peer name "${probe}b" 2>/dev/null \
     || ! ip -n "${probe}" link add "${probe}br" type bridge 2>/dev/null; then
    ip netns del "${probe}" 2>/dev/null || true
    log "SKIP: veth pairs or bridges cannot be created in a network namespace here"; exit "${EXIT_SKIP}"
  fi
  ip netns del "${probe}"
}

# Everything of this prefix, whether a finished, failed or killed run left it: processes inside the
# namespaces (all started by `exec`/`mpirun` of this script), the namespaces, hosts files, state.
cmd_down() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}([0-9]+|br)$" || true); do
    for pid in $(ip netns pids "${ns}" 2>/dev/null || true); do
      kill -KILL "${pid}" 2>/dev/null || true
    done
    ip netns del "${ns}" 2>/dev/null || true
    rm -rf "/etc/netns/${ns}"
  done
  rm -rf "${STATE}"
}

cmd_up() {
  local n=${1:?usage: up N [--hostnames \"h1 h2 ...\"]}; shift
  local names=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --hostnames) names=$2; shift 2 ;;
      *) die "unknown option of up: $1" ;;
    esac
  done
  [[ ${n} =~ ^[0-9]+$ ]] && [ "${n}" -ge 1 ] && [ "${n}" -le 200 ] || die "N must be 1..200, not '${n}'"
  [ ${#PREFIX} -le 8 ] || die "ATTNBENCH_EMU_PREFIX '${PREFIX}' is longer than 8 characters (interface names)"
  cmd_check
  cmd_down
  mkdir -p "${STATE}"
  local -a hn
  read -r -a hn <<<"${names}"
  : >"${STATE}/hostnames"
  local k
  for ((k = 1; k <= n; k++)); do
    echo "${hn[k - 1]:-node${k}}" >>"${STATE}/hostnames"
  done

  ip netns add "${BRNS}"
  ip -n "${BRNS}" link set lo up
  ip -n "${BRNS}" link add br0 type bridge
  ip -n "${BRNS}" link set br0 up
  local hosts="127.0.0.1 localhost"$'\n'
  for ((k = 1; k <= n; k++)); do
    hosts+="${SUBNET}.${k} node${k}"$'\n'
  done
  for ((k = 1; k <= n; k++)); do
    local ns=${PREFIX}${k}
    ip netns add "${ns}"
    ip -n "${ns}" link set lo up
    # The pair is created inside the bridge's namespace, then one end moves to the node: no
    # interface of the host's namespace is ever involved.
    ip -n "${BRNS}" link add "p${k}" type veth peer name "eth0" netns "${ns}"
    ip -n "${BRNS}" link set "p${k}" master br0 up
    ip -n "${ns}" addr add "${SUBNET}.${k}/24" dev eth0
    ip -n "${ns}" link set eth0 up
    mkdir -p "/etc/netns/${ns}"
    # The node's own hostname resolves to its address (Open MPI and Slurm look it up).
    printf '%s%s %s\n' "${hosts}" "${SUBNET}.${k}" "$(hostname_of "${k}")" >"/etc/netns/${ns}/hosts"
  done
  echo "${n}" >"${STATE}/nodes"

  # The rsh agent Open MPI calls as `rsh-agent HOST COMMAND...` (the command is a shell line).
  cat >"${STATE}/rsh-agent" <<EOF
#!/usr/bin/env bash
# Generated by ${SELF}: runs an Open MPI daemon on an emulated node.
host=\$1; shift
case "\${host}" in
  node[0-9]*) k=\${host#node} ;;
  ${SUBNET}.*) k=\${host##*.} ;;
  *) echo "rsh-agent: unknown node '\${host}'" >&2; exit 255 ;;
esac
exec env ATTNBENCH_EMU_PREFIX=${PREFIX} ATTNBENCH_EMU_SUBNET=${SUBNET} ${SELF} exec "\${k}" /bin/sh -c "\$*"
EOF
  chmod 0755 "${STATE}/rsh-agent"

  log "up: ${n} nodes, ${SUBNET}.1-${n} ($(tr '\n' ' ' <"${STATE}/hostnames"))"
}

# Run a command on node K: its network namespace (and /etc/hosts), its own UTS namespace with the
# node's hostname. stdin/stdout/stderr are the caller's.
cmd_exec() {
  local k=${1:?usage: exec K CMD...}; shift
  [ -f "${STATE}/nodes" ] || die "no emulated cluster '${PREFIX}' (run: $0 up N)"
  [[ ${k} =~ ^[0-9]+$ ]] && [ "${k}" -ge 1 ] && [ "${k}" -le "$(node_count)" ] || die "no node ${k}"
  # TMPDIR: a node-local temporary directory, as real nodes have (Open MPI keeps its session
  # directory there, named after the hostname: two nodes with one name would share it in /tmp).
  mkdir -p "${STATE}/node${k}/tmp"
  exec ip netns exec "${PREFIX}${k}" unshare --uts env TMPDIR="${STATE}/node${k}/tmp" \
    /bin/sh -c 'hostname "$0" && exec "$@"' "$(hostname_of "${k}")" "$@"
}

cmd_mpirun() {
  local -a mca
  mapfile -t mca < <(mca_args)
  local -a hostargs=()
  if ! printf '%s\n' "$@" | grep -qE '^(--host|-H|--hostfile|-hostfile|--machinefile)$'; then
    local k slots=${ATTNBENCH_EMU_SLOTS:-2}
    : >"${STATE}/hostfile"
    for ((k = 1; k <= $(node_count); k++)); do
      echo "node${k} slots=${slots}" >>"${STATE}/hostfile"
    done
    hostargs=(--hostfile "${STATE}/hostfile")
  fi
  cmd_exec 1 mpirun "${mca[@]}" "${hostargs[@]}" "$@"
}

cmd_shape() {
  local rate=${1:?usage: shape RATE|off} k
  for ((k = 1; k <= $(node_count); k++)); do
    ip netns exec "${PREFIX}${k}" tc qdisc del dev eth0 root 2>/dev/null || true
    if [ "${rate}" != off ]; then
      # burst: at least one MTU-sized packet at any rate; latency bounds the queue.
      ip netns exec "${PREFIX}${k}" tc qdisc replace dev eth0 root tbf rate "${rate}" burst 32kb latency 20ms
    fi
  done
}

cmd_link() {
  local k=${1:?usage: link K up|down} state=${2:?usage: link K up|down}
  ip -n "${PREFIX}${k}" link set eth0 "${state}"
}

readonly SLURM_DIR=${STATE}/slurm

# Start a daemon on node K in the background: its network namespace via nsenter, its own UTS and
# mount namespaces (hostname; the node's hosts file and PMIx directory bound in place).
#   node_daemon K LOGNAME CMD...
node_daemon() {
  local k=$1 name=$2; shift 2
  mkdir -p "${SLURM_DIR}/node${k}/pmix" "${SLURM_DIR}/pmix"
  setsid nsenter --net="/run/netns/${PREFIX}${k}" unshare --uts --mount --propagation private /bin/sh -c '
    hostname "$1" && mount --bind "/etc/netns/$2/hosts" /etc/hosts && mount --bind "$3" "$4" && shift 4 && exec "$@"' \
    sh "$(hostname_of "${k}")" "${PREFIX}${k}" "${SLURM_DIR}/node${k}/pmix" "${SLURM_DIR}/pmix" "$@" \
    </dev/null >>"${SLURM_DIR}/log/${name}.stderr" 2>&1 &
}

slurm_env() { printf '%s\n' "SLURM_CONF=${SLURM_DIR}/slurm.conf"; }

cmd_slurm_up() {
  local n k i
  n=$(node_count)
  [ "${n}" -ge 1 ] || die "no emulated nodes (run: $0 up N first)"
  local b
  for b in slurmctld slurmd munged sbatch; do
    PATH="${PATH}:/usr/sbin" command -v "${b}" >/dev/null || { log "SKIP: ${b} is not installed (jobs/slurm/local-cluster.sh install)"; exit "${EXIT_SKIP}"; }
  done
  id munge >/dev/null 2>&1 || { log "SKIP: no user munge (is munge installed?)"; exit "${EXIT_SKIP}"; }
  rm -rf "${SLURM_DIR}"
  mkdir -p "${SLURM_DIR}/log" "${SLURM_DIR}/ctld" "${SLURM_DIR}/pmix"
  install -d -o munge -g munge -m 0700 "${SLURM_DIR}/munge"
  (umask 077; dd if=/dev/urandom of="${SLURM_DIR}/munge/munge.key" bs=1024 count=1 status=none)
  chown munge:munge "${SLURM_DIR}/munge/munge.key"
  chmod 0400 "${SLURM_DIR}/munge/munge.key"
  local sock=${SLURM_DIR}/munge/munge.socket
  # munged on node 1 (so that `down` ends it with the nodes), as user munge.
  setsid nsenter --net="/run/netns/${PREFIX}1" setpriv --reuid=munge --regid=munge --init-groups \
    "$(PATH="${PATH}:/usr/sbin" command -v munged)" --foreground --force --socket="${sock}" \
    --key-file="${SLURM_DIR}/munge/munge.key" --pid-file="${SLURM_DIR}/munge/munged.pid" \
    --log-file="${SLURM_DIR}/munge/munged.log" --seed-file="${SLURM_DIR}/munge/munged.seed" \
    </dev/null >>"${SLURM_DIR}/log/munged.stderr" 2>&1 &
  for ((i = 0; i < 40; i++)); do
    [ -S "${sock}" ] && break
    sleep 0.1
  done
  [ -S "${sock}" ] || { cat "${SLURM_DIR}/log/munged.stderr" >&2; die "munged did not start"; }

  local cpus mem_mb
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
  mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 / 2 / n ))
  cat >"${SLURM_DIR}/slurm.conf" <<EOC
# Generated by ${SELF} slurm-up: emulated nodes ${PREFIX}1..${n}
ClusterName=emu${PREFIX}
SlurmctldHost=node1(${SUBNET}.1)
AuthInfo=socket=${sock}
$("$(dirname "${SELF}")/../slurm/local-cluster.sh" common-conf)
StateSaveLocation=${SLURM_DIR}/ctld
SlurmdSpoolDir=${SLURM_DIR}/%n/spool
SlurmctldPidFile=${SLURM_DIR}/slurmctld.pid
SlurmdPidFile=${SLURM_DIR}/%n/slurmd.pid
SlurmctldLogFile=${SLURM_DIR}/log/slurmctld.log
SlurmdLogFile=${SLURM_DIR}/log/slurmd-%n.log
MinJobAge=300
NodeName=node[1-${n}] NodeAddr=${SUBNET}.[1-${n}] CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=emu Nodes=node[1-${n}] Default=YES OverSubscribe=YES MaxTime=INFINITE State=UP
EOC
  # PMIx's client directories per node (the nodes share /tmp): one path, a private directory behind it.
  printf 'PMIxCliTmpDirBase=%s\n' "${SLURM_DIR}/pmix" >"${SLURM_DIR}/mpi.conf"
  export SLURM_CONF=${SLURM_DIR}/slurm.conf
  node_daemon 1 slurmctld "$(PATH="${PATH}:/usr/sbin" command -v slurmctld)" -D -i
  for ((k = 1; k <= n; k++)); do
    mkdir -p "${SLURM_DIR}/node${k}/spool"
    node_daemon "${k}" "slurmd-node${k}" "$(PATH="${PATH}:/usr/sbin" command -v slurmd)" -D -N "node${k}"
  done
  local idle=0 t0=${SECONDS}
  while (( SECONDS - t0 < 30 )); do
    idle=$(ip netns exec "${PREFIX}1" sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l)
    [ "${idle}" -ge "${n}" ] && break
    sleep 0.3
  done
  if [ "${idle}" -lt "${n}" ]; then
    tail -n 20 "${SLURM_DIR}"/log/* >&2 || true
    die "Slurm: ${idle} of ${n} nodes idle after 30 s"
  fi
  log "slurm up: ${n} nodes idle after $((SECONDS - t0)) s (SLURM_CONF=${SLURM_CONF})"
}

cmd_slurm() {
  [ -f "${SLURM_DIR}/slurm.conf" ] || die "no Slurm on the emulated cluster '${PREFIX}' (run: $0 slurm-up)"
  cmd_exec 1 env "$(slurm_env)" "OMPI_MCA_btl_tcp_flags=${TCP_FLAGS}" "$@"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  exec) shift; cmd_exec "$@" ;;
  mpirun) shift; cmd_mpirun "$@" ;;
  mca) mca_args ;;
  shape) shift; cmd_shape "$@" ;;
  link) shift; cmd_link "$@" ;;
  check) cmd_check ;;
  slurm-up) cmd_slurm_up ;;
  slurm) shift; cmd_slurm "$@" ;;
  *) sed -n '2,12p' "${SELF}" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ] && exit 2; exit 0 ;;
esac
