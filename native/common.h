// Shared helpers for the uvs native addon: argument checks and errno -> JS errors.
#pragma once

#include <napi.h>
#include <errno.h>
#include <string.h>
#include <string>
#include <vector>
#include <stdint.h>

namespace uvs {

// Build "OP what: strerror" with .code ("EPERM") and .errno, like Node's own system errors.
inline Napi::Error ErrnoError(Napi::Env env, const char* op, const std::string& what, int err) {
  std::string msg = std::string(op);
  if (!what.empty()) msg += " " + what;
  msg += ": ";
  msg += strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  const char* code = strerrorname_np(err);
  if (code != nullptr) e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, op));
  return e;
}

// Throws and returns undefined so call sites can `return ThrowErrno(...)`
// (we build with NAPI_DISABLE_CPP_EXCEPTIONS).
inline Napi::Value ThrowErrno(Napi::Env env, const char* op, const std::string& what, int err) {
  ErrnoError(env, op, what, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowRange(Napi::Env env, const char* msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// A Uint32Array argument; false if it is anything else.
inline bool GetU32Array(const Napi::Value& v, uint32_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint32_array) return false;
  Napi::Uint32Array u = v.As<Napi::Uint32Array>();
  *data = u.Data();
  *len = u.ElementLength();
  return true;
}

// A Buffer / Uint8Array argument.
inline bool GetBytes(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsBuffer()) return false;
  Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
  *data = b.Data();
  *len = b.Length();
  return true;
}

// Reads up to max frames (one read() each) into buf at i*stride. Returns the count;
// *err is 0, or the errno of a hard error that stopped the loop (EAGAIN is not an error).
uint32_t ReadFrames(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err);

// The same through the fd's io_uring when uringAttach() gave it one (else ReadFrames): all max
// reads in one io_uring_enter(); frames are compacted to slots 0..n-1.
uint32_t UringReadFrames(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err);
// Writes frames buf[offs[i]-pre..offs[i]+lens[i]] through the fd's ring (HasRing(fd) must hold);
// frames the kernel has no room for, or rejects, are dropped (their lens[i] set to 0, as every
// writer here does: tx_bytes is the sum of lens). 0 or the errno of a hard failure.
int UringWriteFrames(int fd, uint8_t* buf, size_t buflen, const uint32_t* offs, uint32_t* lens,
                     uint32_t count, uint32_t pre, uint32_t* written);
bool HasRing(int fd);
// Tears down the fd's ring, if any (before the fd is closed).
void DropRing(int fd);

// The packet-ring port (ring.cc): a TPACKET_V2 rx ring and sendmmsg() tx on an AF_PACKET fd.
bool HasPacketRing(int fd);
void DropPacketRing(int fd);
uint32_t PacketRingRead(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err);
// Frames dropped (no room, rejected) get lens[i] = 0, as UringWriteFrames.
int PacketRingWrite(int fd, uint8_t* buf, size_t buflen, const uint32_t* offs, uint32_t* lens,
                    uint32_t count, uint32_t* written);

// Checks readBatch/rxStart arguments 1..4 (buf, stride, lens, max). On failure it has thrown
// and returns false.
bool CheckRxArgs(const Napi::CallbackInfo& info, size_t first, uint8_t** buf, uint32_t* stride,
                 uint32_t** lens, uint32_t* max);

Napi::Value OpenTap(const Napi::CallbackInfo& info);
Napi::Value OpenPacket(const Napi::CallbackInfo& info);
Napi::Value PacketDrops(const Napi::CallbackInfo& info);
Napi::Value IfaceInfo(const Napi::CallbackInfo& info);
Napi::Value BridgeAddIf(const Napi::CallbackInfo& info);
Napi::Value OpenProtoSink(const Napi::CallbackInfo& info);
Napi::Value ReadBatch(const Napi::CallbackInfo& info);
Napi::Value WriteBatch(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value RxStart(const Napi::CallbackInfo& info);
Napi::Value ProbeOpen(const Napi::CallbackInfo& info);
Napi::Value PrepareTable(const Napi::CallbackInfo& info);
Napi::Value UringAttach(const Napi::CallbackInfo& info);
Napi::Value OpenPacketRing(const Napi::CallbackInfo& info);
Napi::Value PacketRingStats(const Napi::CallbackInfo& info);
Napi::Value PacketRingIfindex(const Napi::CallbackInfo& info);
Napi::Value PacketFanout(const Napi::CallbackInfo& info);
Napi::Value SteerAttach(const Napi::CallbackInfo& info);
Napi::Value SteerSet(const Napi::CallbackInfo& info);
Napi::Value SteerEntries(const Napi::CallbackInfo& info);
Napi::Value SteerRun(const Napi::CallbackInfo& info);

}  // namespace uvs
