// A small encoder for ACPI Machine Language: just the terms ember's DSDT
// needs (ACPI 6.5 chapter 20, "ACPI Machine Language (AML) Specification")
// and the resource descriptors of its _CRS buffers (chapter 6.4, "Resource
// Data Types for ACPI"). Each function returns the encoded bytes of one
// term; terms nest by passing the inner terms' bytes.
//
// Why an encoder rather than iasl at build time: the DSDT's content depends
// on the run (which virtio-mmio devices exist), and the handful of opcodes
// it needs fit in one short file that unit tests pin down byte by byte; the
// test suite still decompiles what it writes with iasl -d.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace ember::aml {

using Bytes = std::vector<uint8_t>;

// PkgLength (20.2.4): the length of what follows plus the encoding's own
// 1-4 bytes. `content` is at most 2^28 - 5 bytes.
Bytes package_length(size_t content);

// A NameString (20.2.2): "\_SB_.PCI0", "COM1", "_HID"; segments shorter
// than four characters are padded with '_'. Segments must be 1-4 characters
// of A-Z, 0-9 and '_', not starting with a digit.
Bytes name_string(std::string_view path);

// Data objects (20.2.3).
Bytes integer(uint64_t value);            // the shortest of Zero, One, Byte, Word, DWord, QWord
Bytes string(std::string_view text);      // printable ASCII
Bytes eisa_id(std::string_view id);       // "PNP0501" as its 32-bit compressed EISA ID
Bytes buffer(const Bytes& contents);
Bytes package(std::initializer_list<Bytes> elements);  // at most 255 elements

// Named objects and scopes (20.2.5).
Bytes name(std::string_view path, const Bytes& object);
Bytes scope(std::string_view path, std::initializer_list<Bytes> terms);
Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
Bytes device(std::string_view name, std::initializer_list<Bytes> terms);

// Resource descriptors (6.4), concatenated and closed by end_tag() inside a
// buffer() to make a ResourceTemplate.
namespace resource {
Bytes io_port(uint16_t base, uint8_t length);        // IO(Decode16, base, base, 1, length)
Bytes irq_no_flags(uint8_t irq);                     // IRQNoFlags(){irq}: edge, active high
Bytes memory32_fixed(uint32_t base, uint32_t length);  // read-write
enum class Trigger { Level, Edge };
Bytes interrupt(uint32_t gsi, Trigger trigger);      // Interrupt(ResourceConsumer, trigger, ActiveHigh, Exclusive)
Bytes bus_number_range(uint16_t first, uint16_t last);  // WordBusNumber, a producer (bridge)
Bytes io_range(uint16_t first, uint16_t last);          // WordIO, a producer
Bytes memory_range(uint32_t first, uint32_t last);      // DWordMemory, non-cacheable read-write, a producer
Bytes end_tag();
Bytes template_of(std::initializer_list<Bytes> descriptors);  // buffer(descriptors + end_tag())
}  // namespace resource

}  // namespace ember::aml
