#!/usr/bin/env bash
# Cluster DNS throughput and footprint (internal/dns).
#
# Starts bench/dns/server twice on free ports: the real Gureum DNS server
# over a synthetic cluster (1,000 ClusterIP services with two named ports,
# plus 100 headless services with 3 endpoints each) and, as the floor, a
# bare miekg/dns server answering one fixed A record. Both run with
# GOMAXPROCS=1 pinned to CPU 0; the load generator (BenchmarkServiceQueries,
# UDP, a window of queries in flight per socket) runs pinned to CPU 1.
# Trials alternate server and floor; the report gives medians, the ratio,
# and the server's heap and RSS. Markdown on stdout, progress on stderr.
#
#   bench/dns/run.sh            # 7 trials of 200,000 queries each
#   bench/dns/run.sh --quick    # 2 trials of 20,000 queries (smoke test)
#
# Environment: SERVICES (1000), TRIALS, QUERIES, DNS_BENCH_SOCKETS (4),
# DNS_BENCH_WINDOW (16).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
trials=${TRIALS:-7}
queries=${QUERIES:-200000}
services=${SERVICES:-1000}
for arg in "$@"; do
  case "$arg" in
    --quick) trials=${TRIALS:-2}; queries=${QUERIES:-20000} ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d "${TMPDIR:-/tmp}/gureum-bench-dns.XXXXXX")"
pids=()
cleanup() {
  trap - EXIT INT TERM HUP
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Pin server and client to different cores when there are two or more.
server_pin=() client_pin=()
cores=$(nproc)
if command -v taskset >/dev/null && ((cores >= 2)); then
  server_pin=(taskset -c 0)
  client_pin=(taskset -c 1)
  placement="server on CPU 0 (GOMAXPROCS=1), client on CPU 1"
else
  placement="unpinned (taskset missing or one core); server GOMAXPROCS=1"
fi

echo "building" >&2
go build -o "$work/server" ./bench/dns/server
go test -c -o "$work/bench.test" ./bench/dns

start_server() { # name, extra args...; sets started_pid
  local name=$1
  shift
  : >"$work/$name.out"
  "${server_pin[@]}" env GOMAXPROCS=1 "$work/server" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  pids+=("$pid")
  # The server prints MEM after ADDR once it is serving from a full index.
  until grep -q '^MEM' "$work/$name.out"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name server exited:" >&2
      cat "$work/$name.err" >&2
      exit 1
    fi
    sleep 0.1 # polling the server's own report of readiness
  done
  started_pid=$pid
}

start_server gureum -services "$services"
gureum_pid=$started_pid
start_server floor -mode floor
floor_pid=$started_pid
gureum_addr=$(awk '/^ADDR/{print $2}' "$work/gureum.out")
floor_addr=$(awk '/^ADDR/{print $2}' "$work/floor.out")
rss_start=$(awk '/^VmRSS/{print $2}' "/proc/$gureum_pid/status")
mem=$(sed -n 's/^MEM //p' "$work/gureum.out")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

trial() { # addr -> queries/s, lost
  "${client_pin[@]}" env GOMAXPROCS=1 DNS_BENCH_ADDR="$1" DNS_BENCH_SERVICES="$services" \
    "$work/bench.test" -test.run '^$' -test.bench ServiceQueries -test.benchtime "${queries}x" |
    awk '/^BenchmarkServiceQueries/{for(i=1;i<=NF;i++){if($(i)=="queries/s")q=$(i-1); if($(i)=="lost")l=$(i-1)}} END{if(q=="")exit 1; print q, l}'
}

# Wall-clock rates suffer when other work shares the cores; queries per
# CPU-second of the server process (utime+stime from /proc) much less so.
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
per_cpu() { # queries lost ticks -> queries per server CPU-second
  awk -v n="$1" -v l="$2" -v t="$3" -v hz="$hz" 'BEGIN{if (t <= 0) print 0; else printf "%.0f", (n - l) * hz / t}'
}
gureum_qps=() floor_qps=() gureum_cpu=() floor_cpu=() lost_total=0
for ((i = 1; i <= trials; i++)); do
  t0=$(cpu_ticks "$gureum_pid")
  read -r q l < <(trial "$gureum_addr")
  gc=$(per_cpu "$queries" "$l" $(($(cpu_ticks "$gureum_pid") - t0)))
  gureum_qps+=("$q") gureum_cpu+=("$gc")
  lost_total=$(awk -v a="$lost_total" -v b="$l" 'BEGIN{print a+b}')
  t0=$(cpu_ticks "$floor_pid")
  read -r fq fl < <(trial "$floor_addr")
  fc=$(per_cpu "$queries" "$fl" $(($(cpu_ticks "$floor_pid") - t0)))
  floor_qps+=("$fq") floor_cpu+=("$fc")
  echo "trial $i: gureum $q q/s, $gc q/CPU-s (lost $l); floor $fq q/s, $fc q/CPU-s (lost $fl)" >&2
done
rss_end=$(awk '/^VmRSS/{print $2}' "/proc/$gureum_pid/status")
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if(NR%2)print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
gm=$(median "${gureum_qps[@]}")
fm=$(median "${floor_qps[@]}")
gcm=$(median "${gureum_cpu[@]}")
fcm=$(median "${floor_cpu[@]}")
json() { echo "$mem" | sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p"; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }

cat <<REPORT
## Cluster DNS ($(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $cores cores, $(free -h | awk '/^Mem:/{print $2}') RAM)

$services ClusterIP services + $((services / 10)) headless (3 endpoints each); UDP A queries for random
service names, ${queries} per trial, $trials trials alternating with the floor; $placement;
load average $load_start at start, $load_end at end.

| | queries/s, wall clock (median) | queries per server CPU-second (median) | trials (wall; per CPU-s) |
|---|---|---|---|
| gureum DNS (internal/dns) | $(printf '%.0f' "$gm") | $gcm | ${gureum_qps[*]}; ${gureum_cpu[*]} |
| floor: bare miekg/dns, fixed answer | $(printf '%.0f' "$fm") | $fcm | ${floor_qps[*]}; ${floor_cpu[*]} |
| ratio gureum / floor | $(awk -v a="$gm" -v b="$fm" 'BEGIN{printf "%.2f", a/b}') | $(awk -v a="$gcm" -v b="$fcm" 'BEGIN{printf "%.2f", a/b}') | |

Lost (timed-out) queries over all gureum trials: $lost_total.

| Footprint of the gureum server | |
|---|---|
| heap in use after GC (index + informer caches + fake API objects) | $(mib "$(json heap_inuse_bytes)") MiB |
| one Records index alone | $(mib "$(json index_bytes)") MiB |
| RSS when ready / after the trials | $(awk -v k="$rss_start" 'BEGIN{printf "%.1f", k/1024}') / $(awk -v k="$rss_end" 'BEGIN{printf "%.1f", k/1024}') MiB |
REPORT
