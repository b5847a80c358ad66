// Module entry: exports the uvs datapath primitives (see src/datapath/port.ts for types).
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace uvs;

// threadCpuMs() -> CPU time of the calling thread in ms (CLOCK_THREAD_CPUTIME_ID): what a control
// verb cost the event loop's thread itself, apart from the time the host gave its CPU to others.
static Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
}

// threadCpus() -> the CPUs the calling thread may run on (sched_getaffinity of this thread).
static Napi::Value ThreadCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return ThrowErrno(env, "sched_getaffinity", "", errno);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (CPU_ISSET(cpu, &set)) out.Set(n++, Napi::Number::New(env, cpu));
  }
  return out;
}

// setThreadCpus(cpus: number[]) pins the calling thread alone (sched_setaffinity with pid 0 is
// this thread, not the process): a worker pins its datapath, the main thread its control.
static Napi::Value SetThreadCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "setThreadCpus(cpus: number[])");
  Napi::Array cpus = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < cpus.Length(); i++) {
    Napi::Value v = cpus.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "setThreadCpus: a CPU is not a number");
    int32_t cpu = v.As<Napi::Number>().Int32Value();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return ThrowRange(env, "setThreadCpus: CPU out of range");
    CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof set, &set) != 0) return ThrowErrno(env, "sched_setaffinity", "", errno);
  return env.Undefined();
}

// setThreadName(name) names the calling thread (at most 15 bytes): `top -H`, `ps -L` and perf
// show a worker's datapath as uvs-dp0, uvs-dp1, ... instead of node.
static Napi::Value SetThreadName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "setThreadName(name: string)");
  std::string name = info[0].As<Napi::String>().Utf8Value().substr(0, 15);
  int err = pthread_setname_np(pthread_self(), name.c_str());
  if (err != 0) return ThrowErrno(env, "pthread_setname_np", name, err);
  return env.Undefined();
}

// exec(argv: string[]) replaces the process with argv[0] run with argv (execv: same pid, same
// environment, stdio kept): bin/uvsd starts node again with the V8 flags it needs from the start
// (src/cli/node-flags.ts). Returns only on failure, by throwing. Call it before anything else is
// open: every other descriptor node opened is close-on-exec, and threads end.
static Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "exec(argv: string[])");
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() == 0) return ThrowType(env, "exec: argv is empty");
  std::vector<std::string> args;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) return ThrowType(env, "exec: an argument is not a string");
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Node opens the process with close-on-exec set on stdin, stdout and stderr: keep them.
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  execv(argv[0], argv.data());
  return ThrowErrno(env, "execv", args[0], errno);
}

// cloexecFrom(lo) sets close-on-exec on every descriptor from lo up (close_range(2) with
// CLOSE_RANGE_CLOEXEC, else each of /proc/self/fd). uvsd opens its own with it; descriptors it
// inherited without it (a wrapper script's lock or pipe, a shell's redirection) would otherwise
// reach every health check, notify and quorum command it starts, and live on in their children.
static Napi::Value CloexecFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "cloexecFrom(lo: number)");
  unsigned lo = info[0].As<Napi::Number>().Uint32Value();
#ifdef SYS_close_range
  if (syscall(SYS_close_range, lo, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) == 0) return env.Undefined();
#endif
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return ThrowErrno(env, "opendir", "/proc/self/fd", errno);
  int own = dirfd(d);
  for (dirent* e; (e = readdir(d)) != nullptr;) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd < static_cast<int>(lo) || fd == own) continue;
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC) == 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
  closedir(d);
  return env.Undefined();
}

// sdNotify(socketPath, text) sends text ("READY=1", "STOPPING=1", ...) as one datagram to
// systemd's notification socket, $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace):
// sd_notify(3) without libsystemd, for the unit's Type=notify. Node's dgram has no Unix sockets.
static Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) return ThrowType(env, "sdNotify(socketPath: string, text: string)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string text = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@')) return ThrowRange(env, "sdNotify: not a socket path");
  memcpy(sa.sun_path, path.data(), path.size());
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket", path, errno);
  ssize_t n = sendto(fd, text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&sa), len);
  int err = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, "sendto", path, err);
  return env.Undefined();
}

// tryLock(fd) -> true when this open file now holds flock(2)'s exclusive lock, false when another
// open file holds it (LOCK_NB: EWOULDBLOCK); throws otherwise. Node's fs has no flock. The
// kernel releases the lock with the last descriptor of the open file, so however the process
// ends (SIGKILL too) nothing stale is left, and no pid is taken for another process's.
static Napi::Value TryLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "tryLock(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int r;
  do {
    r = flock(fd, LOCK_EX | LOCK_NB);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, "flock", "fd " + std::to_string(fd), errno);
}

// The process at the other end of a connected Unix socket, as the kernel recorded it at connect()
// (SO_PEERCRED): [pid, uid, gid], or null where the socket has none (not a Unix socket, closed).
static Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "peerCred(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) return env.Null();
  Napi::Array a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, cred.pid));
  a.Set(1u, Napi::Number::New(env, cred.uid));
  a.Set(2u, Napi::Number::New(env, cred.gid));
  return a;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openTap", Napi::Function::New(env, OpenTap, "openTap"));
  exports.Set("openPacket", Napi::Function::New(env, OpenPacket, "openPacket"));
  exports.Set("packetDrops", Napi::Function::New(env, PacketDrops, "packetDrops"));
  exports.Set("ifaceInfo", Napi::Function::New(env, IfaceInfo, "ifaceInfo"));
  exports.Set("bridgeAddIf", Napi::Function::New(env, BridgeAddIf, "bridgeAddIf"));
  exports.Set("openProtoSink", Napi::Function::New(env, OpenProtoSink, "openProtoSink"));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch, "readBatch"));
  exports.Set("writeBatch", Napi::Function::New(env, WriteBatch, "writeBatch"));
  exports.Set("rxStart", Napi::Function::New(env, RxStart, "rxStart"));
  exports.Set("probeOpen", Napi::Function::New(env, ProbeOpen, "probeOpen"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("uringAttach", Napi::Function::New(env, UringAttach, "uringAttach"));
  exports.Set("prepareTable", Napi::Function::New(env, PrepareTable, "prepareTable"));
  exports.Set("openPacketRing", Napi::Function::New(env, OpenPacketRing, "openPacketRing"));
  exports.Set("packetRingStats", Napi::Function::New(env, PacketRingStats, "packetRingStats"));
  exports.Set("packetRingIfindex", Napi::Function::New(env, PacketRingIfindex, "packetRingIfindex"));
  exports.Set("packetFanout", Napi::Function::New(env, PacketFanout, "packetFanout"));
  exports.Set("steerAttach", Napi::Function::New(env, SteerAttach, "steerAttach"));
  exports.Set("steerSet", Napi::Function::New(env, SteerSet, "steerSet"));
  exports.Set("steerEntries", Napi::Function::New(env, SteerEntries, "steerEntries"));
  exports.Set("steerRun", Napi::Function::New(env, SteerRun, "steerRun"));
  exports.Set("threadCpuMs", Napi::Function::New(env, ThreadCpuMs, "threadCpuMs"));
  exports.Set("threadCpus", Napi::Function::New(env, ThreadCpus, "threadCpus"));
  exports.Set("setThreadCpus", Napi::Function::New(env, SetThreadCpus, "setThreadCpus"));
  exports.Set("setThreadName", Napi::Function::New(env, SetThreadName, "setThreadName"));
  exports.Set("exec", Napi::Function::New(env, Exec, "exec"));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
  exports.Set("cloexecFrom", Napi::Function::New(env, CloexecFrom, "cloexecFrom"));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  return exports;
}

NODE_API_MODULE(uvs_native, Init)
