#include "vcpu/register_dump.h"

#include <cstdio>

namespace ember {
namespace {

std::string line(const char* format, auto... values) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, values...);
  return buffer;
}

std::string segment_line(const char* name, const kvm_segment& s) {
  return line("  %-3s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u\n", name, s.selector,
              static_cast<unsigned long long>(s.base), s.limit, s.type, s.present, s.dpl, s.db, s.l, s.g);
}

}  // namespace

std::string register_dump(const kvm::Vcpu& vcpu) {
  std::string dump;
  if (const auto r = vcpu.get_regs(); r) {
    using ull = unsigned long long;
    dump += line("  rip=%016llx rsp=%016llx rflags=%016llx\n", ull(r->rip), ull(r->rsp), ull(r->rflags));
    dump += line("  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", ull(r->rax), ull(r->rbx), ull(r->rcx), ull(r->rdx));
    dump += line("  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n", ull(r->rsi), ull(r->rdi), ull(r->rbp), ull(r->r8));
    dump += line("  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n", ull(r->r9), ull(r->r10), ull(r->r11), ull(r->r12));
    dump += line("  r13=%016llx r14=%016llx r15=%016llx\n", ull(r->r13), ull(r->r14), ull(r->r15));
  } else {
    dump += "  general registers unreadable: " + r.error().message + "\n";
  }
  if (const auto s = vcpu.get_sregs(); s) {
    using ull = unsigned long long;
    dump += line("  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n", ull(s->cr0), ull(s->cr2), ull(s->cr3),
                 ull(s->cr4), ull(s->efer));
    dump += segment_line("cs", s->cs);
    dump += segment_line("ss", s->ss);
    dump += segment_line("ds", s->ds);
    dump += segment_line("tr", s->tr);
    dump += line("  gdt base=%016llx limit=%04x  idt base=%016llx limit=%04x\n", ull(s->gdt.base), s->gdt.limit,
                 ull(s->idt.base), s->idt.limit);
  } else {
    dump += "  special registers unreadable: " + s.error().message + "\n";
  }
  return dump;
}

bool is_reset_state(const kvm_regs& regs, const kvm_sregs& sregs) {
  return regs.rip == 0xfff0 && sregs.cs.selector == 0xf000 && sregs.cs.base == 0xffff0000;
}

}  // namespace ember
