// Networking for tests of virtio-net: a private network namespace, a TAP
// device in it with the host's address, and ICMP echo, so nothing a test
// does reaches the host's own network.
#pragma once

#include <string>

namespace ember::test {

// The guest side every network test uses: 10.0.2.15 with ember's first
// default MAC address; the host end of the TAP device is 10.0.2.1/24.
inline constexpr const char* kTapName = "embertap0";
inline constexpr const char* kHostAddress = "10.0.2.1";
inline constexpr const char* kGuestAddress = "10.0.2.15";
inline constexpr const char* kGuestMac = "52:54:00:12:34:56";

// Moves the calling thread (and so the processes and threads it starts)
// into a new network namespace. Returns why it cannot (not root, no
// permission), or "" on success.
std::string enter_network_namespace();

// Creates the persistent TAP device kTapName with kHostAddress/24, up, and a
// neighbour entry for the guest (kGuestAddress at kGuestMac). Returns what
// failed, or "".
std::string make_tap();

// Sends ICMP echo requests to `address` until one is answered (true) or
// `seconds` pass.
bool ping(const std::string& address, int seconds);

}  // namespace ember::test
