#include "cli/help.h"

namespace ember::cli {

const char* const kUsage = R"(ember: a KVM virtual machine monitor for booting guests from the command line

Usage:
  ember run --kernel PATH [options]   boot a guest (see 'ember run --help')
  ember run --kernel PATH --initrd INITRAMFS [options] -- COMMAND [ARGS]
                                      boot, run COMMAND in the guest, exit with its status
  ember --help                        this text
  ember --version                     print the version

Exit status of 'ember run':
  N     the guest wrote N to the exit port (I/O port 0xf4); with
        --exit-device qemu, the guest wrote V and N is (V << 1) | 1
  0     the guest reset or powered off the machine
  1     host setup error: no /dev/kvm, a missing or unusable file
  2     usage error: a bad option or value
  123   -- COMMAND given, but the guest stopped before reporting its status
        (a kernel panic reboots it: ember adds panic=-1 if absent)
  124   --timeout expired (stderr says where each VCPU was: its RIP, IF and LAPIC)
  122   ember's seccomp filter stopped it (a bug in ember; the system call
        is named on stderr)
  125   the guest crashed: triple fault, KVM internal error, every VCPU
        halted with interrupts off (register dump on stderr)
  128+S ember was stopped by signal S (SIGINT, SIGTERM, SIGHUP; stderr
        says where each VCPU was, as for 124, or that the guest never ran
        when the signal came during start-up)
)";

const char* const kRunUsage = R"(Usage: ember run --kernel PATH [options] [-- COMMAND [ARGS]]

Boots PATH, which may be:
  a Linux bzImage          64-bit boot protocol (2.12 or later)
  a multiboot kernel       ELF or flat image with a multiboot (v1) header in its
                           first 8 KiB; entered in 32-bit protected mode with
                           EAX = 0x2BADB002, EBX = the multiboot information
                           (memory map, command line, modules), as
                           qemu-system-x86_64 -kernel and GRUB start it
  an ELF vmlinux           entered through its PVH note when it has one
  any other ELF64 program  entered at e_entry in 64-bit mode, RSI = boot_params

Options (each at most once unless said; --opt VALUE and --opt=VALUE both work):
  --kernel PATH      the kernel or guest program to boot (required)
  --initrd PATH      an initial ramdisk for the kernel (for a multiboot
                     kernel: its first module)
  --module 'PATH [ARGS]'
                     multiboot only, repeatable: load PATH as a module; the
                     kernel sees the whole value as the module's string.
                     A multiboot kernel's own command line is its path, a
                     space and --cmdline, as GRUB and QEMU give it
  --cmdline STR      the kernel command line
                     (default: "console=ttyS0 reboot=k panic=-1")
  --memory SIZE      guest RAM: a number with K, M, G or T (binary units);
                     a bare number is MiB; at least 4M (default: 128M)
  --cpus N           number of VCPUs, 1 to 254 and at most KVM's limit
                     (default: 1). VCPUs after the first wait for the
                     INIT/SIPI the guest sends them (MP table: APIC IDs 0..N-1)
  --console MODE     the guest's console:
                     stdio (default): the serial port (COM1, 0x3f8) on
                       stdout, fed by stdin
                     virtio: a virtio-console device (Linux: hvc0) on
                       stdout, fed by stdin; the serial port's output is
                       discarded, and the default command line says
                       console=hvc0 instead of console=ttyS0
                     file:PATH: the serial port's output to PATH, no input
                     none: the serial port's output is discarded
  --timeout SECONDS  stop the guest after SECONDS (fractions allowed) and
                     exit with status 124
  --report json      at the end, print one JSON line on stderr: exit status,
                     outcome, wall time, boot-to-init time (from ember's boot
                     timer, port 0xf5, which the initramfs' init writes),
                     KVM exits by reason, start-up time (main() to the first
                     KVM_RUN), peak RSS and guest RAM touched
  --vsock CID[,socket=PATH]
                     a virtio-vsock device; the guest's context ID is CID
                     (3 to 4294967294). Host programs reach the guest through
                     the Unix socket PATH (default /tmp/ember-vsock-CID.sock):
                     connect, write "CONNECT PORT\n", read "OK N\n", then the
                     socket carries the guest's port PORT. A guest connecting
                     to the host (CID 2) port P reaches whoever listens on the
                     Unix socket PATH_P. Stream sockets only
  --virtio-transport mmio|pci
                     how the virtio devices attach: mmio (default): virtio-mmio
                     windows at 0xd0000000, IOAPIC pins 16-23, announced to
                     Linux with virtio_mmio.device= on its command line; pci:
                     modern virtio-pci functions on PCI bus 0 (slots 1-30,
                     BARs at 0xe0000000), MSI-X interrupts only, found by the
                     guest's PCI scan (Linux: CONFIG_VIRTIO_PCI, CONFIG_PCI_MSI)
  --describe-machine mptable|dtb
                     how the guest learns what the machine has. mptable
                     (default): an Intel MP table (CPUs, IOAPIC, ISA IRQs)
                     and, for virtio-mmio, virtio_mmio.device= on the kernel
                     command line. dtb: the device tree of --dump-dtb in
                     boot_params' setup_data chain (SETUP_DTB) and neither
                     of those; needs a bzImage, and a Linux built with
                     CONFIG_OF_EARLY_FLATTREE, which x86-64 kernels get
                     only with CONFIG_OF_UNITTEST (CONFIG_OF=y). ISA
                     interrupts (COM1's) then reach the CPU through the 8259
                     (LINT0 in ExtINT mode), as no tree binding routes them
                     to the IOAPIC
  --acpi on|off       ACPI tables (default on; off with --describe-machine dtb):
                     RSDP at 0xe0000, XSDT, FADT, FACS, MADT (every CPU, the
                     IOAPIC) and a DSDT with COM1, the PCI host bridge and
                     every virtio-mmio device, so kernels without an MP-table
                     parser see every CPU and kernels without
                     virtio_mmio.device= find their disks. A guest powers off
                     through ACPI S5 (exit 0). The MP table is written either
                     way, for kernels built without ACPI or booted acpi=off
  --dump-dtb PATH     build the machine (every file, device and KVM checked),
                     write its flattened device tree to PATH and exit 0
                     without starting the guest; read it with
                     dtc -I dtb -O dts PATH. It lists the CPUs, RAM, LAPIC,
                     IOAPIC, COM1 and each virtio-mmio device with its
                     address and IOAPIC pin: what --describe-machine dtb
                     hands the guest
  --exit-device ember|qemu
                     what a write to port 0xf4 means: ember (default): byte N
                     exits with status N; qemu: like QEMU's isa-debug-exit
                     (-device isa-debug-exit,iobase=0xf4), value V exits with
                     status (V << 1) | 1 (low 8 bits)
  --test-device      QEMU's pc-testdev, as kvm-unit-tests expect it (with
                     --exit-device qemu): a scratch register at ports
                     0xe0-0xeb, interrupt lines 0-23 driven by byte writes to
                     ports 0x2000-0x2017, 64 KiB of scratch MMIO at
                     0xff000000. Off by default: it lets the guest drive any
                     interrupt line
  --fw-cfg name=NAME,file=PATH | name=NAME,string=TEXT
                     repeatable: an extra file in the fw_cfg device (ports
                     0x510-0x51b, QEMU's interface; DMA included), which
                     always has the signature, ID, RAM size, CPU count,
                     command line and etc/e820
  --disk PATH[,ro][,queues=N]
                     repeatable: a virtio-blk disk backed by the raw image
                     PATH (a file or block device; the path ends at the first
                     comma). ro: read-only. queues=N: N request queues (1-16).
                     ember locks the image (a write lock, or a read lock with
                     ro) so two VMMs cannot share a writable disk. A FLUSH
                     the guest sees acknowledged is on the host disk
                     (fdatasync); guests that do not flush get write-through
  --net tap=NAME[,mac=MAC]
                     repeatable: a virtio-net interface on the TAP device
                     NAME, which ember creates (for its own lifetime) when it
                     does not exist and ember has CAP_NET_ADMIN; an existing
                     one must belong to ember's user (ip tuntap add NAME mode
                     tap user USER). mac: the guest's address (default
                     52:54:00:12:34:56, then :57 ... for the next --net).
                     Checksum and segmentation offloads and mergeable receive
                     buffers are offered; the host end (address, bridge,
                     routing) is configured outside ember
  --rng              a virtio-rng device fed by the host's getrandom()
                     Virtio devices are virtio-mmio (version 2), 4 KiB each
                     from 0xd0000000 in this order: disks, network
                     interfaces, the rng, the console (--console virtio);
                     device i interrupts on IOAPIC pin 16+i (level). ember
                     announces each to Linux with virtio_mmio.device=... on
                     the kernel command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES),
                     or in the device tree with --describe-machine dtb
  --user UID:GID     once everything is open, become this user and group
                     (needs root). Always, before the guest runs, ember drops
                     every capability and sets no_new_privs
  --seccomp on|off   seccomp filters from the guest's first instruction on
                     (default on; off only to debug ember itself). A system
                     call outside them stops ember with status 122
  -h, --help         this text

With '-- COMMAND [ARGS]', ember boots the kernel with its initramfs (built by
scripts/build-initramfs.sh; --initrd is required), whose init runs COMMAND
with the guest's sh, shows its output on the console and makes ember exit
with COMMAND's exit status. The command reaches the guest hex-encoded in the
kernel parameter ember.command=, so it counts against the kernel command
line's length limit.

Exit status: see 'ember --help'.
)";

}  // namespace ember::cli
