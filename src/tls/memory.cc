// Where OpenSSL's per-connection SSL object lives. The gateway links tcmalloc, whose size
// classes put OpenSSL 3.0's 7,608-byte SSL object in an 8 KiB block: 584 bytes lost per TLS
// connection, 4% of an idle TLS connection's whole cost. OpenSSL's allocations of 7,169 to
// 7,616 bytes (in practice the SSL object only) are served instead from one region of
// 7,616-byte slots, reserved once (virtual memory only until a slot is used); every other
// allocation goes to malloc as before. Installed before main (OpenSSL accepts an allocator
// only before its first allocation); when that fails, nothing changes. Built into the
// gateway's executable only where tcmalloc is linked (CMakeLists.txt), never under the
// sanitizers, which must see every allocation.
#include <openssl/crypto.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define PORTCULLIS_TLS_NO_SLOTS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PORTCULLIS_TLS_NO_SLOTS 1
#endif

namespace portcullis::tls {
namespace {

constexpr std::size_t kSlot = 7616;      // OpenSSL 3.0's sizeof(SSL), 7,608, rounded to 16
constexpr std::size_t kSmallest = 7169;  // tcmalloc's 7,168-byte class holds the smaller
// Room for ~70,000 TLS connections per process; only the slots used become memory.
constexpr std::size_t kRegion = std::size_t{512} << 20;

// Written once before OpenSSL's first allocation, read-only afterwards.
char* region = nullptr;
char* region_end = nullptr;
std::uintptr_t region_start = 0;

// The slots: a bump pointer through the region, then the freed ones (a list threaded
// through them).
std::mutex slots_mutex;
char* next_unused = nullptr;
void* free_slots = nullptr;

// One subtraction and one comparison: OpenSSL frees ~50 times per request (null included).
bool in_region(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) - region_start < kRegion;
}

[[gnu::noinline]] void* take_slot() {
  const std::lock_guard<std::mutex> lock(slots_mutex);
  void* p = free_slots;
  if (p != nullptr) {
    std::memcpy(&free_slots, p, sizeof free_slots);
  } else if (static_cast<std::size_t>(region_end - next_unused) >= kSlot) {
    p = next_unused;
    next_unused += kSlot;
  } else {
    return nullptr;  // all in use: malloc serves the rest
  }
  return p;
}

// Out of line: slot_free's common path (not a slot) then needs no stack frame.
[[gnu::noinline]] void give_slot(void* p) {
  const std::lock_guard<std::mutex> lock(slots_mutex);
  std::memcpy(p, &free_slots, sizeof free_slots);
  free_slots = p;
}

void* slot_malloc(std::size_t n, const char*, int) {
  if (n >= kSmallest && n <= kSlot) {
    if (void* p = take_slot()) return p;
  }
  return std::malloc(n);
}

void slot_free(void* p, const char*, int) {
  if (in_region(p)) [[unlikely]] {
    give_slot(p);
    return;
  }
  std::free(p);
}

void* slot_realloc(void* p, std::size_t n, const char* file, int line) {
  if (p == nullptr) return slot_malloc(n, file, line);
  if (!in_region(p)) return std::realloc(p, n);
  if (n == 0) {
    give_slot(p);
    return nullptr;
  }
  if (n <= kSlot) return p;
  void* grown = std::malloc(n);
  if (grown == nullptr) return nullptr;
  std::memcpy(grown, p, kSlot);
  give_slot(p);
  return grown;
}

bool install() {
#ifdef PORTCULLIS_TLS_NO_SLOTS
  return false;  // the sanitizers must see every allocation
#else
  void* r = ::mmap(nullptr, kRegion, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) return false;
  region = static_cast<char*>(r);
  region_end = region + kRegion;
  region_start = reinterpret_cast<std::uintptr_t>(r);
  next_unused = region;
  if (CRYPTO_set_mem_functions(slot_malloc, slot_realloc, slot_free) != 1) {
    // OpenSSL allocated already: it keeps its allocator.
    region = region_end = next_unused = nullptr;
    region_start = 0;
    ::munmap(r, kRegion);
    return false;
  }
  return true;
#endif
}

// Before main: OpenSSL has allocated nothing yet.
[[maybe_unused]] const bool installed = install();

}  // namespace
}  // namespace portcullis::tls
