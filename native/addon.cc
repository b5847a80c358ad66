// Module entry: exports the uvs datapath primitives (see src/datapath/port.ts for types).
#include "common.h"

#include <time.h>

using namespace uvs;

// threadCpuMs() -> CPU time of the calling thread in ms (CLOCK_THREAD_CPUTIME_ID): what a control
// verb cost the event loop's thread itself, apart from the time the host gave its CPU to others.
static Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openTap", Napi::Function::New(env, OpenTap, "openTap"));
  exports.Set("openPacket", Napi::Function::New(env, OpenPacket, "openPacket"));
  exports.Set("ifaceInfo", Napi::Function::New(env, IfaceInfo, "ifaceInfo"));
  exports.Set("bridgeAddIf", Napi::Function::New(env, BridgeAddIf, "bridgeAddIf"));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch, "readBatch"));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
  exports.Set("rxStart", Napi::Function::New(env, RxStart, "rxStart"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("uringAttach", Napi::Function::New(env, UringAttach, "uringAttach"));
  exports.Set("prepareTable", Napi::Function::New(env, PrepareTable, "prepareTable"));
  exports.Set("openPacketRing", Napi::Function::New(env, OpenPacketRing, "openPacketRing"));
  exports.Set("packetRingStats", Napi::Function::New(env, PacketRingStats, "packetRingStats"));
  exports.Set("packetFanout", Napi::Function::New(env, PacketFanout, "packetFanout"));
  exports.Set("steerAttach", Napi::Function::New(env, SteerAttach, "steerAttach"));
  exports.Set("steerSet", Napi::Function::New(env, SteerSet, "steerSet"));
  exports.Set("steerEntries", Napi::Function::New(env, SteerEntries, "steerEntries"));
  exports.Set("steerRun", Napi::Function::New(env, SteerRun, "steerRun"));
  exports.Set("threadCpuMs", Napi::Function::New(env, ThreadCpuMs, "threadCpuMs"));
  return exports;
}

NODE_API_MODULE(uvs_native, Init)
