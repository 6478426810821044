#!/usr/bin/env bash
# ember beside QEMU with KVM (machines microvm and pc), on the same vmlinux,
# initramfs, memory, CPU count and kernel command line, under the same KVM
# in the same run. Made for the nested tier, where every machine has a
# stock KVM:
#
#   bash scripts/nested-kvm.sh bash bench/nested_versus_qemu.sh [ROUNDS]
#
# (after scripts/build.sh; builds the kernel and initramfs if needed).
# VMMs: ember (its default virtio-mmio, as microvm's), ember-pci
# (--virtio-transport pci, as pc's virtio-pci), microvm and pc;
# EMBER_BENCH_VMMS="ember-pci pc" runs only those, EMBER_BENCH_ROWS="boot
# true" leaves rows out, EMBER_BENCH_CPUS=1 gives every guest one CPU, as
# pc's guest has anyway. Rows,
# each run ROUNDS times (default 3), VMMs taking turns to go first, medians
# printed:
#   boot-to-init  wall ms from starting the VMM to "Run /init as init process"
#   true          wall ms of the whole run of the command `true` (start to exit)
#   block         virtio-blk sequential read, MB/s: the guest's dd reads a
#                 64 MiB raw image in 1 MiB requests (O_DIRECT), timed by the
#                 guest's /proc/uptime (10 ms steps)
#   tcp           guest-to-host TCP over a TAP device, MB/s: 128 MiB
#                 (EMBER_BENCH_TCP_MIB; 32 before 2026-12-05) that the
#                 guest's dd writes to the socket in 64 KiB writes (busybox nc
#                 -e dd), read on the host by GNU dd in up to 1 MiB reads,
#                 timed the same way (QEMU's userspace virtio-net, no vhost);
#                 the clock stops when the guest's last write returns, with
#                 up to a send buffer still in flight (the host's byte count
#                 shows it all arrived, not when)
#   tcp-in        host-to-guest, the same the other way: the host's GNU dd
#                 writes the same amount in 64 KiB writes, the guest's busybox dd
#                 reads it in 1 MiB blocks (iflag=fullblock), timed in the
#                 guest from the connection's accept to its end
# EMBER_BENCH_CPU_SPLIT=1: for each TCP run, also where the nested VM's CPU
# time went during the transfer, in ticks of 10 ms from /proc, taken by the
# host end when the connection opens and when its dd ends: the VMM's VCPU
# threads in the guest (vcpu-guest), in the nested VM's kernel (vcpu-kernel:
# KVM's exits and the VMM's system calls) and in the VMM's own code
# (vcpu-vmm); its other threads (vmm-threads: device and I/O threads, with
# the host's TCP work done in their system calls); and the nested VM's
# busy and idle ticks over its CPUs (vm-busy, vm-idle, /proc/stat). Then
# each VMM's medians. The thread figures come from each thread's own
# accounting and /proc/stat's from the timer tick, so they do not add up
# to vm-busy. Under single-threaded TCG the nested VM's CPUs take turns on
# one host thread, so a tick is time on a CPU of the nested VM, not host
# CPU time. tcp-in's host dd ends with up to a send buffer (a few MiB)
# still on its way. Off by default: the snapshots take CPU in the window
# they measure.
# Both TCP rows move data in large writes and reads, as iperf does. Before
# 2026-12-04 (session 21) the tcp row piped dd into busybox nc, which
# writes its socket 1 KiB at a time: the guest then spent its time in 32,768
# small sends, and how many of them TCP merged into a packet (autocorking,
# Nagle) decided the figure (bench/README.md).
# The guest CPU must be the same for every VMM: ember passes through what
# KVM offers, as QEMU's -cpu host does. It matters here: with ERMS in CPUID
# Linux copies and clears with rep movsb/stosb, which TCG (under this KVM)
# runs a byte at a time, about 7x slower than qemu64's rep movsq; the runs
# before 2026-12-03 (session 18) gave QEMU qemu64 and so measured two guest
# CPUs (bench/README.md). microvm gets -cpu host. pc with -cpu host printed
# nothing in 150 s in the nested VM, so it gets qemu64 with ERMS added.
# EMBER_BENCH_QEMU_CPU / EMBER_BENCH_PC_CPU override. pc's guest sees one
# CPU whatever -smp says: the project's kernel has no ACPI, and the MP table
# pc's firmware writes in this VM lists only the boot CPU.
# Times inside the nested VM are TCG's, not hardware's: the ratios are what
# mean something (bench/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The TCP rows' TAP device lives in a network namespace of the script's own;
# entered first, so nothing below is made twice (a 64 MiB disk image was
# left in /tmp by every run before).
if [[ -z ${EMBER_BENCH_NETNS:-} ]]; then
  exec env EMBER_BENCH_NETNS=1 unshare -n bash "$0" "$@"
fi
source "$root/bench/median.sh"
rounds=${1:-3}
cpus=${EMBER_BENCH_CPUS:-2} memory=256
source "$root/bench/linux_guest.sh"
limit=${EMBER_BENCH_LIMIT:-180}
work=$(mktemp -d)
# The TCP rows' host ends run in sessions of their own (below); whichever
# is running goes with the script, however it ends.
peer=""
# So does a VMM still running (the script stopped by Ctrl-C in measure()'s
# wait): its timeout, whose PID measure() wrote, passes the signal on.
trap '[[ -n $peer ]] && kill -- -"$peer" 2>/dev/null; [[ -s $work/vmm_pid ]] && kill "$(cat "$work/vmm_pid")" 2>/dev/null; rm -rf "$work"' EXIT
disk=$work/disk.img
dd if=/dev/urandom of="$disk" bs=1M count=64 status=none

# The guest's init runs ember.command= (hex) itself, so QEMU gets the same
# command line ember builds for `-- COMMAND`, and the same initramfs.
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
ember_run() {  # ember_run COMMAND [OPTIONS...]
  local command=$1
  shift
  echo "$root/build/ember" run --kernel "$kernel" --initrd "$initramfs" --cpus "$cpus" --memory "${memory}M" \
    --cmdline "'$cmdline'" --timeout "$limit" "$@" -- sh -c "'$command'"
}
qemu_run() {  # qemu_run MACHINE COMMAND [DEVICES...]
  local machine=$1 command=$2
  shift 2
  # acpi=off: the project's kernel has no ACPI, and with ACPI on microvm
  # describes its virtio-mmio devices only in the DSDT, so the guest saw no
  # disk and no NIC (what the first runs of this script measured). Without
  # ACPI QEMU adds virtio_mmio.device= to the command line itself.
  # kernel-irqchip=on: microvm's default, a split irqchip (its IOAPIC in
  # QEMU), never got past "vgaarb: loaded" in this VM within 150 s; with
  # KVM's own IOAPIC it boots in seconds (bench/README.md).
  local type=microvm,x-option-roms=off,rtc=off,acpi=off bus=device accel=kvm,kernel-irqchip=on
  local cpu=${EMBER_BENCH_QEMU_CPU:-host}
  [[ $machine == pc ]] && type=pc bus=pci accel=kvm cpu=${EMBER_BENCH_PC_CPU:-qemu64,+erms}
  echo qemu-system-x86_64 -M "$type" -accel "$accel" -cpu "$cpu" -smp "$cpus" -m "$memory" -nodefaults -no-user-config \
    -display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=1 \
    -kernel "$kernel" -initrd "$initramfs" -append "'$cmdline ember.command=$(hex "$command")'" "${@//BUS/$bus}"
}

# Prints ms from start to the console line matching $2 (or to exit when $2
# is empty), or a number pulled from the output with the sed expression $3.
measure() {
  local command=$1 until=$2 extract=${3:-} start output=$work/output
  start=$(date +%s%N)
  if [[ -n $until ]]; then
    coproc VMM { eval "exec timeout $limit $command" 2>&1 </dev/null; }
    local result=""
    while IFS= read -r line <&"${VMM[0]}"; do
      if [[ $line == *"$until"* ]]; then result=$(( ($(date +%s%N) - start) / 1000000 )); break; fi
    done
    kill "$VMM_PID" 2>/dev/null || true
    wait "$VMM_PID" 2>/dev/null || true
    echo "${result:-failed}"
    return
  fi
  local status=0
  # In the background only so that timeout's PID is known (cpu_snapshot, and
  # the trap at the top); exec, so that $! is timeout itself.
  eval "exec timeout $limit $command" >"$output" 2>&1 </dev/null &
  echo $! > "$work/vmm_pid"
  wait $! || status=$?
  rm -f "$work/vmm_pid"
  local elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  # A run the limit stopped (timeout's 124) has no time of its own: the
  # round trip row counted such a run as the limit itself before.
  if (( status == 124 )) && [[ -z $extract ]]; then
    { echo "stopped at the ${limit} s limit; the run's last lines:"; tr -d '\r' < "$output" | tail -n 5; } >&2
    echo failed
    return
  fi
  if [[ -n $extract ]]; then
    local rate
    rate=$(sed -n "$extract" "$output" | tr -d '\r' | tail -n 1 | awk '$3 > $2 {printf "%.1f\n", $1 / ($3 - $2) / 1e6; ok = 1} END {if (!ok) print "failed"}')
    # Why, on stderr: the end of the guest's output.
    [[ $rate == failed ]] && { echo "no result after ${elapsed} ms; the run's last lines:"; tr -d '\r' < "$output" | tail -n 5; } >&2
    echo "$rate"
  else
    echo "$elapsed"
  fi
}

# EMBER_BENCH_CPU_SPLIT (see the top). The host end runs its dd between two
# snapshots of /proc/stat's first line and the VMM's threads' stat lines.
cpu_split=${EMBER_BENCH_CPU_SPLIT:-0}
[[ $cpu_split == [01] ]] || { echo "EMBER_BENCH_CPU_SPLIT: 0 or 1, not '$cpu_split'" >&2; exit 2; }
# Shell built-ins only: in the nested VM every process started costs tens of
# ms inside the window measured (a pgrep took 300 ms there).
cat > "$work/cpu_snapshot" <<'SNAPSHOT'
#!/bin/sh
# cpu_snapshot FILE: the nested VM's CPU ticks, then every thread of the VMM,
# found below the PID measure() wrote (timeout, then the VMM). Nothing is
# written when it is not found.
read -r pid < "${0%/*}/vmm_pid" || exit 0
for depth in 1 2 3; do
  read -r name < "/proc/$pid/comm" || exit 0
  case $name in ember | qemu-system-x86) break ;; esac
  # The file ends without a newline, so read's status says nothing; a
  # redirection that failed would leave pid as it was.
  parent=$pid pid=""
  read -r pid rest < "/proc/$parent/task/$parent/children"
  [ -n "$pid" ] || exit 0
done
case $name in ember | qemu-system-x86) ;; *) exit 0 ;; esac
{
  read -r line < /proc/stat && echo "$line"
  for stat in /proc/"$pid"/task/*/stat; do read -r line < "$stat" && echo "$line"; done
} > "$1" 2>/dev/null
SNAPSHOT
chmod +x "$work/cpu_snapshot"
around_transfer() {  # around_transfer PROGRAM ARGS...: what nc -e runs
  if [[ $cpu_split == 1 ]]; then
    # dd's status stays the program's (tcp-in's host end retries on failure).
    echo "/bin/sh -c '$work/cpu_snapshot $work/cpu-begins; $*; status=\$?; $work/cpu_snapshot $work/cpu-ends; exit \$status'"
  else
    echo "$*"
  fi
}
# One line of ticks from the two snapshots, or "failed" without both or
# when a thread of the first is gone from the second (the VMM was already
# ending). A thread's stat: utime, stime and guest_time are fields 14, 15
# and 43 (proc(5)); the command name in parentheses holds no space for
# ember or QEMU. guest_time is part of utime. A VCPU thread is one that has
# run the guest at all (guest_time at the end), busy in the window or not.
# vcpu-vmm is utime less guest_time, two counts the kernel keeps apart: a
# rough figure.
cpu_split_of_run() {
  [[ -s $work/cpu-begins && -s $work/cpu-ends ]] || { echo failed; return; }
  awk 'FNR == 1 { sign = FILENAME ~ /ends$/ ? 1 : -1
                  for (i = 2; i <= 11; i++) all[i] += sign * $i   # user nice system idle iowait irq softirq steal guest guest_nice
                  next }
       { user[$1] += sign * $14; sys[$1] += sign * $15; guest[$1] += sign * $43
         if (sign == 1) { ended[$1] = 1; vcpu[$1] = $43 > 0 } }
       END {
         for (tid in user) {
           if (!ended[tid]) { print "failed"; exit }
           if (vcpu[tid]) { vg += guest[tid]; vu += user[tid] - guest[tid]; vs += sys[tid] }
           else other += user[tid] + sys[tid]
         }
         printf "vcpu-guest %d vcpu-kernel %d vcpu-vmm %d vmm-threads %d vm-busy %d vm-idle %d\n",
           vg, vs, vu, other, all[2] + all[3] + all[4] + all[7] + all[8] + all[9], all[5] + all[6]
       }' "$work/cpu-begins" "$work/cpu-ends"
}

# The TAP device for the TCP rows, in the network namespace this script
# entered at its start.
ip tuntap add embench0 mode tap
ip addr add 10.0.2.1/24 dev embench0
ip link set embench0 up
# The sink counts what arrived: a run whose bytes did not all reach the host
# measured nothing, and its row says "failed".
# busybox nc -l closes the connection once its stdin ends, so its stdin is
# held open for the run (with </dev/null it dropped all but the first 64 KiB).
# The sink runs in a session of its own, so that all of it goes after each
# run: a listener left by a failed run held port 7000, and every later run
# then delivered 0 bytes.
# GNU dd (by path: busybox nc would run its own dd applet, which prints no
# byte count) reads the connection and counts what arrived.
# The guest is started only once the sink listens: a guest that connected
# first was refused and measured nothing.
tcp_sink() {
  rm -f "$work/tcp_bytes"
  setsid bash -c "LC_ALL=C busybox nc -l -p 7000 -e $(around_transfer /bin/dd of=/dev/null bs=1M) 2>&1 | sed -n 's/ bytes .*//p' > '$work/tcp_bytes'" &
  peer=$!
  local waited=0
  until [[ -n $(ss -Hltn 'sport = :7000') ]] || ((waited++ > 50)); do sleep 0.1; done
}
# The host end of tcp-in: connects as soon as the guest listens (refused, or
# unreachable while the guest's eth0 is down, until then) and sends tcp_mib MiB.
tcp_source() {
  setsid bash -c "until busybox nc 10.0.2.15 7000 -e $(around_transfer /bin/dd if=/dev/zero bs=64k count=$tcp_writes) 2>/dev/null; do sleep 0.2; done" &
  peer=$!
}
# Waits until every process of the peer's session is gone, so the next
# run's listener does not find port 7000 still held (2026-12-04: a run
# right after a failed one got no sink, and failed).
tcp_peer_done() {
  kill -- -"$peer" 2>/dev/null || true
  wait "$peer" 2>/dev/null || true
  local waited=0
  while kill -0 -- -"$peer" 2>/dev/null && ((waited++ < 50)); do sleep 0.1; done
  peer=""
}
tcp_received() {  # tcp_received RATE: RATE if all tcp_mib MiB arrived, else "failed"
  local waited=0
  while [[ ! -s $work/tcp_bytes ]] && ((waited++ < 50)); do sleep 0.1; done
  if [[ $(cat "$work/tcp_bytes" 2>/dev/null) == "$tcp_bytes" && $1 != failed ]]; then echo "$1"; return; fi
  echo "tcp failed: $(cat "$work/tcp_bytes" 2>/dev/null || echo no) bytes reached the host" >&2
  echo failed
}

# How much each TCP row moves. 128 MiB since 2026-12-05: with 32 MiB a
# transfer took under a second in the nested VM, and two runs of one binary
# differed by up to 1.9x; with 128 MiB by up to 1.3x (bench/README.md).
tcp_mib=${EMBER_BENCH_TCP_MIB:-128}
[[ $tcp_mib =~ ^[1-9][0-9]{0,3}$ ]] || { echo "EMBER_BENCH_TCP_MIB: a whole number of MiB from 1 to 9999, not '$tcp_mib'" >&2; exit 2; }
tcp_bytes=$((tcp_mib * 1048576)) tcp_writes=$((tcp_mib * 16))

# The commands print "bench-result BYTES START END" (seconds of uptime).
dd_rate='s/.*bench-result \([0-9]*\) \([0-9.]*\) \([0-9.]*\).*/\1 \2 \3/p'
uptime='$(cut -d" " -f1 /proc/uptime)'
block_command="a=$uptime; dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct && echo bench-result 67108864 \$a $uptime"
network_up="ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up"
# The guest waits a second after its last write before it reports (and so
# before its VMM exits): what was still in its send buffer, and its FIN,
# reach the host meanwhile. Without the wait, 2 of 20 ember runs and 1 of
# pc's (2026-12-04) reported success while the host's dd never saw the end
# of the stream (it printed no count), most likely for want of that data.
tcp_command="$network_up; sleep 1; a=$uptime; \
nc 10.0.2.1 7000 -e dd if=/dev/zero bs=64k count=$tcp_writes && b=$uptime && sleep 1 && echo bench-result $tcp_bytes \$a \$b"
# The guest's dd runs once a connection is accepted, and reports only when it
# read tcp_mib whole MiB ("128+0 records in"). The inner sh -c's text is in double
# quotes, so its $ and " reach the guest's shell escaped.
inner_uptime='\$(cut -d\" \" -f1 /proc/uptime)'
tcp_in_command="$network_up; nc -l -p 7000 -e sh -c \"a=$inner_uptime; dd of=/dev/null bs=1M iflag=fullblock 2>&1 \
| grep -q \\\"^$tcp_mib+0 records in\\\" && echo bench-result $tcp_bytes \\\$a $inner_uptime >&2\""
declare -A rows=() cpu_splits=()
record_cpu_split() {  # record_cpu_split ROW VMM, after the run's host end is gone
  [[ $cpu_split == 1 ]] || return 0
  local split
  split=$(cpu_split_of_run)
  rm -f "$work/cpu-begins" "$work/cpu-ends"
  echo "round $((i + 1)) $2 $1 cpu ticks: $split" >&2
  # Only a run that measured a rate: the splits are set beside the rates.
  [[ $split == failed || ${rows[$1,$2]##* } == failed ]] || cpu_splits[$1,$2]+="$((i + 1)) $split"$'\n'
}
vmms=${EMBER_BENCH_VMMS:-ember ember-pci microvm pc}
row_names=${EMBER_BENCH_ROWS:-boot true block tcp tcp-in}
wanted() { [[ " $row_names " == *" $1 "* ]]; }
# Each round runs the VMMs in the other order from the round before, so no
# VMM always comes first. Where a run sits in a round changes its figure
# (2026-12-05, bench/README.md): two ember builds, twelve rounds in each
# order, and whichever went second was faster in 8 of 12 both times; one
# binary against itself, the first of a pair was 4% slower in one series
# and 9% faster in another. With a fixed order that falls on one VMM.
reversed_vmms=$(printf '%s\n' $vmms | tac | tr '\n' ' ')
for ((i = 0; i < rounds; i++)); do
  order=$vmms
  ((i % 2 == 0)) || order=$reversed_vmms
  for vmm in $order; do
    case $vmm in
      ember) transport=mmio ;;
      ember-pci) transport=pci ;;
      microvm | pc) transport="" ;;
      *) echo "EMBER_BENCH_VMMS: unknown VMM '$vmm' (ember, ember-pci, microvm, pc)" >&2; exit 2 ;;
    esac
    if [[ -n $transport ]]; then
      boot=$(ember_run true --virtio-transport $transport)
      block=$(ember_run "$block_command" --virtio-transport $transport --disk "$disk,ro")
      tcp=$(ember_run "$tcp_command" --virtio-transport $transport --net tap=embench0)
      tcp_in=$(ember_run "$tcp_in_command" --virtio-transport $transport --net tap=embench0)
    else
      boot=$(qemu_run $vmm true)
      block=$(qemu_run $vmm "$block_command" -drive "id=d0,file=$disk,format=raw,if=none,readonly=on" -device virtio-blk-BUS,drive=d0)
      nic="-netdev tap,id=n0,ifname=embench0,script=no,downscript=no,vhost=off -device virtio-net-BUS,netdev=n0"
      tcp=$(qemu_run $vmm "$tcp_command" $nic)
      tcp_in=$(qemu_run $vmm "$tcp_in_command" $nic)
    fi
    wanted boot && rows[boot,$vmm]+=" $(measure "$boot" "Run /init as init process")"
    wanted true && rows[true,$vmm]+=" $(measure "$boot" "")"
    wanted block && rows[block,$vmm]+=" $(measure "$block" "" "$dd_rate")"
    if wanted tcp; then
      tcp_sink
      rate=$(measure "$tcp" "" "$dd_rate")
      rows[tcp,$vmm]+=" $(tcp_received "$rate")"
      tcp_peer_done
      record_cpu_split tcp "$vmm"
    fi
    if wanted tcp-in; then
      tcp_source
      rows[tcp-in,$vmm]+=" $(measure "$tcp_in" "" "$dd_rate")"
      tcp_peer_done
      record_cpu_split tcp-in "$vmm"
    fi
    summary=""
    for row in $row_names; do summary+=" $row ${rows[$row,$vmm]##* }"; done
    echo "round $((i + 1)) $vmm:$summary (ms; MB/s for block, tcp and tcp-in)" >&2
  done
done

# Rows measured as a rate (MB/s, higher is better); the others are times (ms).
rate_row() { [[ $1 == block || $1 == tcp* ]]; }

# One column per VMM, its median, then each run's figure.
header="row          "
for vmm in $vmms; do header+=$(printf ' %-12s' "$vmm"); done
echo "$header (runs, in the same order)"
for row in $row_names; do
  unit=ms
  rate_row "$row" && unit=MB/s
  line=$(printf '%-13s' "$row") runs=""
  for vmm in $vmms; do
    # shellcheck disable=SC2086
    line+=$(printf ' %-12s' "$(median_any ${rows[$row,$vmm]:-})")
    runs+=" |${rows[$row,$vmm]:-}"
  done
  echo "$line $unit (${runs# |} )"
done

# Each part of the CPU split by its median over a VMM's runs.
if [[ $cpu_split == 1 ]]; then
  for row in $row_names; do
    [[ $row == tcp* ]] || continue
    for vmm in $vmms; do
      # A line per run: ROUND, then NAME TICKS pairs.
      splits=${cpu_splits[$row,$vmm]:-}
      if [[ -z $splits ]]; then
        printf '%-13s %-10s cpu ticks: no run with both snapshots\n' "$row" "$vmm"
        continue
      fi
      line=""
      for part in $(awk 'NR == 1 {for (i = 2; i < NF; i += 2) print $i}' <<<"$splits"); do
        # shellcheck disable=SC2046
        line+=" $part $(median_any $(awk -v part="$part" '{for (i = 2; i < NF; i += 2) if ($i == part) print $(i + 1)}' <<<"$splits"))"
      done
      printf '%-13s %-10s cpu ticks, medians of %d runs:%s\n' "$row" "$vmm" "$(grep -c . <<<"$splits")" "$line"
    done
    # Each part set beside the first VMM's in the same round, as the rates
    # are below: in how many rounds the first VMM's was the lower.
    first=${vmms%% *}
    for vmm in ${vmms#"$first"}; do
      awk -v row="$row" -v a="$first" -v b="$vmm" '
        NR == FNR { for (i = 2; i < NF; i += 2) mine[$1, $i] = $(i + 1); next }
        { for (i = 2; i < NF; i += 2) if (($1, $i) in mine) {
            if (!($i in seen)) { seen[$i] = 1; names[++k] = $i }
            both[$i]++; if (mine[$1, $i] < $(i + 1)) lower[$i]++; else if (mine[$1, $i] == $(i + 1)) level[$i]++ } }
        END {
          if (!k) { printf "%-13s %s/%s cpu ticks: no round with both splits\n", row, a, b; exit }
          line = ""
          for (j = 1; j <= k; j++) line = line sprintf(" %s %d (level %d) of %d;", names[j], lower[names[j]], level[names[j]], both[names[j]])
          printf "%-13s %s lower than %s in cpu ticks, rounds where both have a split:%s\n", row, a, b, line
        }' <(printf '%s' "${cpu_splits[$row,$first]:-}") <(printf '%s' "${cpu_splits[$row,$vmm]:-}")
    done
  done
fi

# Paired by round: the nested VM's speed drifts from run to run (one
# configuration took 1.2 to 2.2 s for the same transfer in one session), so
# each round's figure is set beside the first VMM's from the same round.
first=${vmms%% *}
for row in $row_names; do
  for vmm in ${vmms#"$first"}; do
    # shellcheck disable=SC2086
    paste -d ' ' <(printf '%s\n' ${rows[$row,$first]:-}) <(printf '%s\n' ${rows[$row,$vmm]:-}) |
      awk -v row="$row" -v a="$first" -v b="$vmm" -v higher_wins="$(rate_row "$row" && echo 1 || echo 0)" '
        $1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 {
          r[++n] = $1 / $2
          if (higher_wins ? $1 > $2 : $1 < $2) ahead++
          else if ($1 == $2) level++
        }
        END {
          if (!n) { printf "%-13s %s/%s: no round where both completed\n", row, a, b; exit }
          for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
          printf "%-13s %s/%s per round: median %.2f (%s ahead in %d, level in %d, of %d rounds where both completed)\n",
            row, a, b, r[int((n + 1) / 2)], a, ahead, level, n
        }'
  done
done
