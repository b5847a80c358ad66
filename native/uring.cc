// Batched frame I/O through io_uring: a whole receive (or transmit) batch is one
// io_uring_enter() instead of one read()/write() per frame. On this project's machines a system
// call costs ~170 ns before it does any work, which is ~5% of a frame's whole kernel path per
// direction; the kernel work per frame (tun_do_read / tun_get_user, the bridge) is unchanged.
//
// Raw system calls (no liburing: a fresh machine has only what `npm ci` builds). One ring per
// port fd, used only from Node's main thread. Every operation carries RWF_NOWAIT: a read with no
// frame queued completes at once with -EAGAIN instead of being parked until one arrives (which
// io_uring does for pollable files even when they are O_NONBLOCK), so every submitted operation
// has completed when io_uring_enter() returns and no buffer is written behind our back.
// uringAttach() checks exactly that on the real fd before the port uses the ring.
#include "common.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif

namespace uvs {

namespace {

// Submission queue size: the most operations one io_uring_enter() carries; bigger batches are
// submitted in chunks of this size.
constexpr unsigned kEntries = 256;
// Init() result when the kernel parks an RWF_NOWAIT operation instead of completing it.
constexpr int kParks = -1;

struct Ring {
  int ringFd = -1;  // the port fd is registered as fixed file 0
  void* sqMap = nullptr;
  size_t sqMapLen = 0;
  void* cqMap = nullptr;  // == sqMap with IORING_FEAT_SINGLE_MMAP
  size_t cqMapLen = 0;
  io_uring_sqe* sqes = nullptr;
  size_t sqesLen = 0;
  unsigned *sqHead, *sqTail, *sqMask, *sqArray, *cqHead, *cqTail, *cqMask;
  io_uring_cqe* cqes;
  unsigned tail = 0;  // local SQ tail, published on submit
  int32_t res[kEntries];

  ~Ring() {
    if (sqes) munmap(sqes, sqesLen);
    if (cqMap && cqMap != sqMap) munmap(cqMap, cqMapLen);
    if (sqMap) munmap(sqMap, sqMapLen);
    if (ringFd >= 0) close(ringFd);
  }

  // 0, kParks or an errno. Tries the cheaper single-issuer setup first (Linux 6.0), then plain.
  int Init(int portFd) {
    io_uring_params p;
    int r = -1;
    for (unsigned flags : {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, 0u}) {
      memset(&p, 0, sizeof p);
      p.flags = flags;
      r = static_cast<int>(syscall(__NR_io_uring_setup, kEntries, &p));
      if (r >= 0 || errno != EINVAL) break;
    }
    if (r < 0) return errno;
    ringFd = r;
    sqMapLen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cqMapLen = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single) sqMapLen = cqMapLen = std::max(sqMapLen, cqMapLen);
    sqMap = Map(sqMapLen, IORING_OFF_SQ_RING);
    if (!sqMap) return errno;
    cqMap = single ? sqMap : Map(cqMapLen, IORING_OFF_CQ_RING);
    if (!cqMap) return errno;
    sqesLen = p.sq_entries * sizeof(io_uring_sqe);
    sqes = static_cast<io_uring_sqe*>(Map(sqesLen, IORING_OFF_SQES));
    if (!sqes) return errno;
    uint8_t* sq = static_cast<uint8_t*>(sqMap);
    uint8_t* cq = static_cast<uint8_t*>(cqMap);
    sqHead = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
    sqTail = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
    sqMask = reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    sqArray = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    cqHead = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
    cqTail = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
    cqMask = reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
    cqes = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
    tail = *sqTail;
    // A registered file skips the fd table lookup and reference count per operation.
    if (syscall(__NR_io_uring_register, ringFd, IORING_REGISTER_FILES, &portFd, 1) < 0) return errno;
    return Probe();
  }

  // Checks, on the port fd itself, that operations behave as Run() needs, before any is used:
  // - a read completes inside io_uring_enter() with a frame or -EAGAIN (a frame is dropped: this
  //   runs before the port delivers anything). A kernel that parks it instead would make Run()
  //   wait for traffic; the read is cancelled and io_uring refused (kParks).
  // - a zero-length write completes with -EINVAL (too short for a frame, nothing is sent) or 0.
  // Any other result (e.g. -EOPNOTSUPP: the device does not support RWF_NOWAIT) refuses too,
  // rather than failing every later batch.
  int Probe() {
    std::vector<uint8_t> scratch(65536);  // this port's own, not shared with other threads' ports
    Prep(IORING_OP_READ, scratch.data(), static_cast<uint32_t>(scratch.size()), 0);
    int32_t v;
    int e = Once(&v);
    if (e) return e;
    if (v < 0 && v != -EAGAIN) return -v;
    Prep(IORING_OP_WRITE, scratch.data(), 0, 0);
    e = Once(&v);
    if (e) return e;
    if (v < 0 && v != -EINVAL) return -v;
    return 0;
  }

  // Submits the one prepared operation and takes its result if it completed at once; otherwise
  // cancels it, waits for both completions and returns kParks.
  int Once(int32_t* res) {
    __atomic_store_n(sqTail, tail, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ringFd, 1, 0, IORING_ENTER_GETEVENTS, nullptr, 0) != 1) return errno ? errno : EIO;
    unsigned h = *cqHead;
    if (h != __atomic_load_n(cqTail, __ATOMIC_ACQUIRE)) {
      *res = cqes[h & *cqMask].res;
      __atomic_store_n(cqHead, h + 1, __ATOMIC_RELEASE);
      return 0;
    }
    unsigned idx = tail & *sqMask;
    io_uring_sqe* s = &sqes[idx];
    memset(s, 0, sizeof *s);
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->addr = 0;  // user_data of the operation
    s->user_data = 1;
    sqArray[idx] = idx;
    tail++;
    __atomic_store_n(sqTail, tail, __ATOMIC_RELEASE);
    // Both the cancel and the cancelled operation complete now; the ring is discarded anyway.
    syscall(__NR_io_uring_enter, ringFd, 1, 2, IORING_ENTER_GETEVENTS, nullptr, 0);
    return kParks;
  }

  void* Map(size_t len, off_t off) {
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd, off);
    return m == MAP_FAILED ? nullptr : m;
  }

  void Prep(uint8_t op, void* addr, uint32_t len, uint64_t tag) {
    unsigned idx = tail & *sqMask;
    io_uring_sqe* s = &sqes[idx];
    memset(s, 0, sizeof *s);
    s->opcode = op;
    s->flags = IOSQE_FIXED_FILE;
    s->fd = 0;
    s->off = static_cast<uint64_t>(-1);  // current position: the only meaning a TAP has
    s->addr = reinterpret_cast<uintptr_t>(addr);
    s->len = len;
    s->rw_flags = RWF_NOWAIT;
    s->user_data = tag;
    sqArray[idx] = idx;
    tail++;
  }

  // After a failed io_uring_enter(): forget operations the kernel did not take (they point into
  // buffers the caller reuses) and completions nobody will read, so the next Run starts clean.
  void Reset() {
    tail = __atomic_load_n(sqHead, __ATOMIC_ACQUIRE);
    __atomic_store_n(sqTail, tail, __ATOMIC_RELEASE);
    __atomic_store_n(cqHead, __atomic_load_n(cqTail, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
  }

  // Submits the n prepared operations, waits for all n, stores each result in res[tag].
  // 0 or the errno of io_uring_enter itself.
  int Run(unsigned n) {
    __atomic_store_n(sqTail, tail, __ATOMIC_RELEASE);
    unsigned done = 0, submitted = 0;
    while (done < n) {
      long r = syscall(__NR_io_uring_enter, ringFd, n - submitted, n - done, IORING_ENTER_GETEVENTS, nullptr, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        Reset();
        return e;
      }
      submitted += static_cast<unsigned>(r);
      unsigned h = *cqHead, t = __atomic_load_n(cqTail, __ATOMIC_ACQUIRE);
      for (; h != t; h++) {
        const io_uring_cqe& c = cqes[h & *cqMask];
        if (c.user_data < kEntries) res[c.user_data] = c.res;
        done++;
      }
      __atomic_store_n(cqHead, h, __ATOMIC_RELEASE);
    }
    return 0;
  }
};

// Each port (fd) has its own Ring, used only by the thread that owns the port; the map from fd
// to Ring is shared by every thread's addon instance, so it is guarded (one lookup per batch).
std::mutex ringsLock;
std::unordered_map<int, Ring*> rings;

Ring* RingOf(int fd) {
  std::lock_guard<std::mutex> g(ringsLock);
  auto it = rings.find(fd);
  return it == rings.end() ? nullptr : it->second;
}

}  // namespace

uint32_t UringReadFrames(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err) {
  Ring* r = RingOf(fd);
  if (r == nullptr) return ReadFrames(fd, buf, stride, lens, max, err);
  *err = 0;
  uint32_t n = 0;  // frames so far, in slots 0..n-1
  while (n < max && *err == 0) {
    uint32_t ask = std::min(max - n, kEntries);
    for (uint32_t i = 0; i < ask; i++) r->Prep(IORING_OP_READ, buf + static_cast<size_t>(n + i) * stride, stride, i);
    int e = r->Run(ask);
    if (e) {
      *err = e;
      break;
    }
    // Reads run in submission order, so frames normally fill the slots in order; a frame that
    // arrived after an earlier read saw EAGAIN leaves a hole, closed here.
    uint32_t got = 0;
    for (uint32_t i = 0; i < ask; i++) {
      int32_t v = r->res[i];
      if (v > 0) {
        if (i != got) memmove(buf + static_cast<size_t>(n + got) * stride, buf + static_cast<size_t>(n + i) * stride, v);
        lens[n + got++] = static_cast<uint32_t>(v);
      } else if (v < 0 && v != -EAGAIN && v != -EINTR && *err == 0) {
        *err = -v;
      }
    }
    n += got;
    if (got < ask) break;  // drained
  }
  return n;
}

int UringWriteFrames(int fd, uint8_t* buf, size_t buflen, const uint32_t* offs, uint32_t* lens,
                     uint32_t count, uint32_t pre, uint32_t* written) {
  Ring* r = RingOf(fd);
  *written = 0;
  uint32_t i = 0;
  uint32_t at[kEntries];  // the frame each prepared write is (its lens[] is zeroed when refused)
  while (i < count) {
    unsigned n = 0;
    for (; i < count && n < kEntries; i++) {
      uint64_t off = offs[i], len = lens[i];
      if (len == 0 || off < pre || off + len > buflen) {  // invalid frame: skip, never read out of bounds
        lens[i] = 0;
        continue;
      }
      at[n] = i;
      r->Prep(IORING_OP_WRITE, buf + off - pre, static_cast<uint32_t>(len + pre), n++);
    }
    if (n == 0) break;
    int e = r->Run(n);
    if (e) return e;
    for (unsigned k = 0; k < n; k++) {
      int32_t v = r->res[k];
      if (v >= 0) { (*written)++; continue; }
      lens[at[k]] = 0;
      // As for write(): no room, the device set down (EIO) or a frame-specific rejection drops
      // that frame only.
      if (v == -EAGAIN || v == -ENOBUFS || v == -EIO || v == -EMSGSIZE || v == -EINVAL || v == -EINTR) continue;
      return -v;
    }
  }
  return 0;
}

bool HasRing(int fd) { return RingOf(fd) != nullptr; }

void DropRing(int fd) {
  Ring* r = nullptr;
  {
    std::lock_guard<std::mutex> g(ringsLock);
    auto it = rings.find(fd);
    if (it == rings.end()) return;
    r = it->second;
    rings.erase(it);
  }
  delete r;
}

// uringAttach(fd) -> true when the fd's batches now go through io_uring; false (with the reason
// in the returned object's .error) when the kernel refuses io_uring: reads and writes then stay
// one system call per frame.
Napi::Value UringAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "uringAttach: fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Object out = Napi::Object::New(env);
  if (RingOf(fd) == nullptr) {
    Ring* r = new Ring();
    int e = r->Init(fd);
    if (e) {
      delete r;
      out.Set("ok", Napi::Boolean::New(env, false));
      out.Set("error", e == kParks ? std::string("io_uring parks non-blocking operations on fd ") + std::to_string(fd)
                                   : ErrnoError(env, "io_uring", "fd " + std::to_string(fd), e).Message());
      return out;
    }
    std::lock_guard<std::mutex> g(ringsLock);
    rings[fd] = r;
  }
  out.Set("ok", Napi::Boolean::New(env, true));
  return out;
}

}  // namespace uvs
