// Batched, non-blocking frame I/O: one JS call moves many frames, one read()/write() per frame
// or, for an fd with an io_uring (uring.cc), one io_uring_enter() per batch; no allocation per
// frame (frames live in caller-provided Buffers, lengths in Uint32Arrays).
#include "common.h"

#include <unistd.h>

namespace uvs {

uint32_t ReadFrames(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err) {
  *err = 0;
  uint32_t n = 0;
  while (n < max) {
    ssize_t r = read(fd, buf + static_cast<size_t>(n) * stride, stride);
    if (r > 0) {
      lens[n++] = static_cast<uint32_t>(r);
      continue;
    }
    if (r == 0) break;  // nothing more (EOF-like); never spin on it
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
    break;
  }
  return n;
}

bool CheckRxArgs(const Napi::CallbackInfo& info, size_t first, uint8_t** buf, uint32_t* stride,
                 uint32_t** lens, uint32_t* max) {
  Napi::Env env = info.Env();
  size_t buflen = 0, lenslen = 0;
  if (!GetBytes(info[first], buf, &buflen)) { ThrowType(env, "buf must be a Buffer"); return false; }
  if (!info[first + 1].IsNumber()) { ThrowType(env, "stride must be a number"); return false; }
  if (!GetU32Array(info[first + 2], lens, &lenslen)) { ThrowType(env, "lens must be a Uint32Array"); return false; }
  if (!info[first + 3].IsNumber()) { ThrowType(env, "max must be a number"); return false; }
  int64_t s = info[first + 1].As<Napi::Number>().Int64Value();
  int64_t m = info[first + 3].As<Napi::Number>().Int64Value();
  if (s <= 0 || s > 0x7fffffff || m < 0 || m > 0x7fffffff) { ThrowRange(env, "stride/max out of range"); return false; }
  // Checked once per call so the per-frame loop needs no bounds checks.
  if (static_cast<uint64_t>(s) * static_cast<uint64_t>(m) > buflen) { ThrowRange(env, "max*stride exceeds buf.length"); return false; }
  if (static_cast<uint64_t>(m) > lenslen) { ThrowRange(env, "max exceeds lens.length"); return false; }
  *stride = static_cast<uint32_t>(s);
  *max = static_cast<uint32_t>(m);
  return true;
}

static bool GetFd(const Napi::CallbackInfo& info, int* fd) {
  if (!info[0].IsNumber()) { ThrowType(info.Env(), "fd must be a number"); return false; }
  *fd = info[0].As<Napi::Number>().Int32Value();
  return true;
}

// readBatch(fd, buf, stride, lens, max) -> count
Napi::Value ReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* buf;
  uint32_t stride, max;
  uint32_t* lens;
  if (!GetFd(info, &fd) || !CheckRxArgs(info, 1, &buf, &stride, &lens, &max)) return env.Undefined();
  int err;
  uint32_t n = HasPacketRing(fd) ? PacketRingRead(fd, buf, stride, lens, max, &err)
                                : UringReadFrames(fd, buf, stride, lens, max, &err);
  // Frames already read win over a late error: return them, the error shows up on the next call.
  if (n == 0 && err) return ThrowErrno(env, "read", "fd " + std::to_string(fd), err);
  return Napi::Number::New(env, n);
}

// writeBatch(fd, buf, offs, lens, count, pre = 0) -> frames written: buf[offs[i] - pre, offs[i] + lens[i]),
// i.e. each frame with the `pre` bytes in front of it (the virtio_net_hdr of an IFF_VNET_HDR port).
// A frame not written has its lens[i] set to 0 on return, so the bytes sent are the sum of lens
// (tx_bytes counts only those; the frame count alone cannot say which frames a full queue refused).
// A frame the kernel has no room for (EAGAIN/ENOBUFS) is dropped, not retried: a datapath must
// not block or queue behind a full link. So is one a TAP/TUN set down refuses (EIO: the kernel's
// tun_get_user takes no frame while the device is not IFF_UP): the link is down, not the port,
// which carries frames again once it is up. A deleted device fails with EBADFD, thrown.
Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, &fd)) return env.Undefined();
  uint8_t* buf;
  size_t buflen, offslen, lenslen;
  uint32_t *offs, *lens;
  if (!GetBytes(info[1], &buf, &buflen)) return ThrowType(env, "buf must be a Buffer");
  if (!GetU32Array(info[2], &offs, &offslen)) return ThrowType(env, "offs must be a Uint32Array");
  if (!GetU32Array(info[3], &lens, &lenslen)) return ThrowType(env, "lens must be a Uint32Array");
  if (!info[4].IsNumber()) return ThrowType(env, "count must be a number");
  int64_t count = info[4].As<Napi::Number>().Int64Value();
  if (count < 0 || static_cast<uint64_t>(count) > offslen || static_cast<uint64_t>(count) > lenslen)
    return ThrowRange(env, "count exceeds offs/lens length");
  uint32_t pre = 0;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    if (!info[5].IsNumber()) return ThrowType(env, "pre must be a number");
    int64_t p = info[5].As<Napi::Number>().Int64Value();
    if (p < 0 || p > 64) return ThrowRange(env, "pre out of range");
    pre = static_cast<uint32_t>(p);
  }
  uint32_t written = 0;
  if (HasPacketRing(fd)) {
    int err = PacketRingWrite(fd, buf, buflen, offs, lens, static_cast<uint32_t>(count), &written);
    if (err) return ThrowErrno(env, "sendmmsg", "fd " + std::to_string(fd), err);
    return Napi::Number::New(env, written);
  }
  if (HasRing(fd)) {
    int err = UringWriteFrames(fd, buf, buflen, offs, lens, static_cast<uint32_t>(count), pre, &written);
    if (err) return ThrowErrno(env, "io_uring write", "fd " + std::to_string(fd), err);
    return Napi::Number::New(env, written);
  }
  for (int64_t i = 0; i < count; i++) {
    uint64_t off = offs[i], len = lens[i];
    if (len == 0 || off < pre || off + len > buflen) {  // invalid frame: skip, never read out of bounds
      lens[i] = 0;
      continue;
    }
    off -= pre;
    len += pre;
    ssize_t r;
    do r = write(fd, buf + off, len); while (r < 0 && errno == EINTR);
    if (r >= 0) { written++; continue; }
    lens[i] = 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EIO) continue;
    // Frame-specific rejections (too big, malformed) drop that frame only.
    if (errno == EMSGSIZE || errno == EINVAL) continue;
    return ThrowErrno(env, "write", "fd " + std::to_string(fd), errno);
  }
  return Napi::Number::New(env, written);
}

// close(fd)
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, &fd)) return env.Undefined();
  DropRing(fd);
  DropPacketRing(fd);
  // Linux releases the fd even when close() reports EINTR, so never retry.
  if (close(fd) < 0 && errno != EINTR) return ThrowErrno(env, "close", "fd " + std::to_string(fd), errno);
  return env.Undefined();
}

}  // namespace uvs
