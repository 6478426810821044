# Sourced by the Linux benchmarks after they set $root: the project's vmlinux
# and initramfs (built if needed) and the command line ember's Linux tests
# use (tests/linux/linux_guest.h), plus panic=-1, the same for every VMM.
kernel=$(bash "$root/scripts/build-guest-kernel.sh" | tail -n 1)/vmlinux
initramfs=$(bash "$root/scripts/build-initramfs.sh" | tail -n 1)
cmdline="console=ttyS0 earlyprintk=serial noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1 panic=-1"
