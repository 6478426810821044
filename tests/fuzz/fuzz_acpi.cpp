// libFuzzer target: the ACPI tables and the AML encoder (src/boot/aml.h,
// src/boot/acpi_tables.h). The input picks a machine (CPUs, virtio-mmio
// devices with any addresses and pins) and a tree of AML terms (scopes,
// devices, names, packages, buffers, strings, integers); everything
// produced is then read back by an independent walker here, which aborts
// if any length, checksum or term runs past its container.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "boot/acpi_tables.h"
#include "boot/aml.h"

namespace {

using ember::aml::Bytes;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_acpi: %s\n", what);
  std::abort();
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_{data}, size_{size} {}
  uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint64_t number(int bytes) {
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= uint64_t{byte()} << (8 * i);
    return value;
  }
  bool empty() const { return at_ >= size_; }
  // A valid name segment: A-Z first, then A-Z, 0-9 or '_'.
  std::string segment() {
    static constexpr char kRest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    std::string name(1, static_cast<char>('A' + byte() % 26));
    const int length = byte() % 4;
    for (int i = 0; i < length; ++i) name += kRest[byte() % (sizeof kRest - 1)];
    return name;
  }

 private:
  const uint8_t* data_;
  size_t         size_;
  size_t         at_ = 0;
};

// --- the encoder's side -----------------------------------------------------

Bytes data_object(Input& input, int depth);

Bytes term(Input& input, int depth) {
  using namespace ember::aml;
  const int choice = depth > 6 ? 0 : input.byte() % 3;
  if (choice == 0) return name(input.segment(), data_object(input, depth + 1));
  std::vector<Bytes> inner;
  const int count = input.byte() % 4;
  for (int i = 0; i < count && !input.empty(); ++i) inner.push_back(term(input, depth + 1));
  if (choice == 1) return scope("\\" + input.segment() + "." + input.segment(), inner);
  Bytes body;
  for (const auto& t : inner) body.insert(body.end(), t.begin(), t.end());
  // device() takes an initializer list; one term holding all of them is the same bytes.
  return device(input.segment(), {name("_UID", integer(input.number(2))), body.empty() ? integer(0) : body});
}

Bytes data_object(Input& input, int depth) {
  using namespace ember::aml;
  switch (depth > 6 ? 0 : input.byte() % 5) {
    case 0: return integer(input.number(input.byte() % 9));
    case 1: {
      std::string text;
      const int length = input.byte() % 40;
      for (int i = 0; i < length; ++i) text += static_cast<char>(0x20 + input.byte() % 0x5f);
      return string(text);
    }
    case 2: {
      Bytes contents(input.number(2) % 5000);
      for (auto& b : contents) b = input.byte();
      return buffer(contents);
    }
    case 3: return package({data_object(input, depth + 1), data_object(input, depth + 1), integer(input.byte())});
    default:
      return resource::template_of({resource::memory32_fixed(static_cast<uint32_t>(input.number(4)), static_cast<uint32_t>(input.number(4))),
                                    resource::interrupt(static_cast<uint32_t>(input.number(4)), resource::Trigger::Level),
                                    resource::io_port(static_cast<uint16_t>(input.number(2)), input.byte())});
  }
}

// --- an independent reader ---------------------------------------------------

class Walker {
 public:
  explicit Walker(const Bytes& bytes) : bytes_{bytes} {}
  void terms(size_t at, size_t end) {
    while (at < end) at = one_term(at, end);
    if (at != end) broken("a term ran past its container");
  }

 private:
  uint8_t at(size_t i) const {
    if (i >= bytes_.size()) broken("read past the end");
    return bytes_[i];
  }
  // Returns where the package ends (absolute) and moves `i` past the length.
  size_t package_end(size_t& i, size_t limit) {
    const size_t start = i;
    const uint8_t lead = at(i++);
    const int follow = lead >> 6;
    size_t length = follow == 0 ? lead & 0x3f : lead & 0x0f;
    if (follow != 0 && (lead & 0x30) != 0) broken("PkgLength lead byte with bits 5:4 set");
    for (int k = 0; k < follow; ++k) length |= size_t{at(i++)} << (4 + 8 * k);
    if (start + length > limit) broken("PkgLength past its container");
    return start + length;
  }
  size_t name_string(size_t i) {
    if (at(i) == '\\') ++i;
    size_t segments = 1;
    if (at(i) == 0x2e) segments = 2, ++i;
    else if (at(i) == 0x2f) segments = at(i + 1), i += 2;
    for (size_t s = 0; s < segments; ++s, i += 4) {
      for (size_t c = 0; c < 4; ++c) {
        const uint8_t ch = at(i + c);
        const bool ok = (ch >= 'A' && ch <= 'Z') || ch == '_' || (c > 0 && ch >= '0' && ch <= '9');
        if (!ok) broken("bad name character");
      }
    }
    return i;
  }
  size_t data(size_t i, size_t limit) {
    switch (at(i)) {
      case 0x00: case 0x01: case 0xff: return i + 1;
      case 0x0a: return i + 2;
      case 0x0b: return i + 3;
      case 0x0c: return i + 5;
      case 0x0e: return i + 9;
      case 0x0d: {
        ++i;
        while (at(i) != 0) ++i;
        return i + 1;
      }
      case 0x11: {
        ++i;
        const size_t end = package_end(i, limit);
        const size_t after_size = data(i, end);
        (void)after_size;
        return end;
      }
      case 0x12: {
        ++i;
        const size_t end = package_end(i, limit);
        const size_t count = at(i++);
        for (size_t e = 0; e < count; ++e) i = data(i, end);
        if (i != end) broken("package elements do not fill the package");
        return end;
      }
      default: broken("unknown data object");
    }
  }
  size_t one_term(size_t i, size_t limit) {
    switch (at(i)) {
      case 0x08: return data(name_string(i + 1), limit);
      case 0x10: {
        ++i;
        const size_t end = package_end(i, limit);
        terms(name_string(i), end);
        return end;
      }
      case 0x5b:
        if (at(i + 1) != 0x82) broken("unknown extended opcode");
        {
          i += 2;
          const size_t end = package_end(i, limit);
          terms(name_string(i), end);
          return end;
        }
      default: return data(i, limit);  // a device's catch-all body term
    }
  }
  const Bytes& bytes_;
};

uint8_t sum(const std::vector<uint8_t>& bytes, size_t length) {
  return static_cast<uint8_t>(std::accumulate(bytes.begin(), bytes.begin() + static_cast<long>(length), 0u));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input input{data, size};

  ember::boot::MachineDescription machine{1u + input.byte(), {}, input.byte(), {}};
  const int devices = input.byte() % 9;
  for (int i = 0; i < devices; ++i) {
    machine.virtio.push_back({input.number(4), input.number(2) + 1, static_cast<uint32_t>(input.number(4))});
  }
  if (auto tables = ember::boot::build_acpi_tables(machine)) {
    for (const auto& table : *tables) {
      if (table.signature == "RSD PTR ") {
        if (sum(table.bytes, 20) != 0 || sum(table.bytes, 36) != 0) broken("RSDP checksum");
        continue;
      }
      if (table.signature == "FACS") continue;
      if (sum(table.bytes, table.bytes.size()) != 0) broken("table checksum");
      if (table.address + table.bytes.size() > ember::boot::kAcpiTablesEnd) broken("table past the BIOS area");
      if (table.signature == "DSDT") Walker{table.bytes}.terms(36, table.bytes.size());
    }
  }

  std::vector<Bytes> terms;
  while (!input.empty() && terms.size() < 16) terms.push_back(term(input, 0));
  const Bytes block = ember::aml::scope("\\_SB", terms);
  Walker{block}.terms(0, block.size());
  return 0;
}
