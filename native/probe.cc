// TCP_CHECK's connect without a net.Socket (src/health/checkers/tcp.ts): a non-blocking connect()
// per check, its socket in an epoll set of the prober's own, that set's fd polled by one uv_poll_t
// in Node's loop, and every connect_timeout on one uv_timer_t over a heap of deadlines. A check
// makes no JS object: the results of a turn of the loop are written into the caller's Int32Array
// as [slot, code] pairs and the caller's one function is called with their count; the connects
// of a turn are started by one call too (connectMany: their numbers in the caller's Float64Array). At 10,000
// services x 4 TCP_CHECK'd servers every 3 s a net.Socket per check (its handle, stream states,
// async resource) was 70 % of what survived each scavenge of the main thread (docs/performance.md).
//
// code: 0 connected, an errno (> 0) the connect failed with, kTimedOut (-1) connect_timeout passed.
// Every socket is closed by the time its result is written: a connected one from a fixed source
// port (bind_port) with a reset (SO_LINGER 0), as closeCheckSocket does, so no TIME_WAIT on the
// director's side keeps the next check from that port from connecting.
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

namespace uvs {

namespace {

constexpr int32_t kTimedOut = -1;
// A connectMany() request's numbers: dst, dstPort, src, srcPort, timeoutMs.
constexpr uint32_t kRequestFields = 5;
// Connects ended taken per turn of the loop at most: a result costs its check's promise and the
// health checker's step, so a round of thousands ending at once is taken over several turns (the
// rest stay ready in the epoll set), not in one.
constexpr size_t kEventsPerTurn = 128;
constexpr uint64_t kNever = UINT64_MAX;

struct Probe {
  int fd = -1;  // -1: the slot is free
  uint32_t gen = 0;  // this probe's number: an event of a slot's former probe is no event of its own
  bool fixedPort = false;
  int32_t heapAt = -1;
  uint64_t deadline = kNever;  // uv_now() ms
};

struct Prober {
  uv_poll_t poll;  // on epfd; ref'd while probes are in flight (it keeps the loop, as a socket did)
  uv_timer_t timer;  // the least deadline's
  uv_check_t check;  // started while `ready` has events
  napi_env env = nullptr;
  int epfd = -1;
  uint32_t nextGen = 1;
  std::vector<Probe> probes;
  std::vector<uint32_t> freeSlots;
  std::vector<uint32_t> heap;  // slots of probes with a deadline, least deadline first
  std::vector<epoll_event> ready;  // taken from epfd in this turn's poll phase, for OnCheck
  uint64_t armedFor = kNever;  // the deadline the timer is armed for
  int32_t* out = nullptr;  // [slot, code] pairs, outCap of them: pinned by outRef
  uint32_t outCap = 0;
  uint32_t outN = 0;
  double* req = nullptr;  // connectMany()'s requests, reqCap of them: pinned by reqRef
  uint32_t reqCap = 0;
  uint32_t inflight = 0;
  Napi::ObjectReference outRef;
  Napi::ObjectReference reqRef;
  Napi::FunctionReference cb;
  std::unique_ptr<Napi::AsyncContext> ctx;
  double started = 0, connected = 0, failed = 0, timedOut = 0;
  bool stopped = false;  // close() called (or the environment went): no probe, no result any more
  bool hooked = false;  // OnEnvCleanup registered (until Stop)
  int open = 3;   // poll, timer and check handles not closed yet
  int jsFns = 4;  // the JS connect(), connectMany(), close() and stats() not yet collected
};

// The Prober is freed only when libuv is done with its handles and JS can no longer call it.
void MaybeFree(Prober* p) {
  if (p->open == 0 && p->jsFns == 0) delete p;
}

// --- the heap of deadlines (slots), probes[slot].heapAt its index in it ---

bool Before(const Prober* p, uint32_t a, uint32_t b) { return p->probes[a].deadline < p->probes[b].deadline; }

void HeapSet(Prober* p, size_t i, uint32_t slot) {
  p->heap[i] = slot;
  p->probes[slot].heapAt = static_cast<int32_t>(i);
}

void HeapUp(Prober* p, size_t i) {
  uint32_t slot = p->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!Before(p, slot, p->heap[parent])) break;
    HeapSet(p, i, p->heap[parent]);
    i = parent;
  }
  HeapSet(p, i, slot);
}

void HeapDown(Prober* p, size_t i) {
  uint32_t slot = p->heap[i];
  size_t n = p->heap.size();
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && Before(p, p->heap[c + 1], p->heap[c])) c++;
    if (!Before(p, p->heap[c], slot)) break;
    HeapSet(p, i, p->heap[c]);
    i = c;
  }
  HeapSet(p, i, slot);
}

void HeapRemove(Prober* p, uint32_t slot) {
  int32_t at = p->probes[slot].heapAt;
  if (at < 0) return;
  p->probes[slot].heapAt = -1;
  uint32_t last = p->heap.back();
  p->heap.pop_back();
  if (static_cast<size_t>(at) == p->heap.size()) return;
  HeapSet(p, static_cast<size_t>(at), last);
  HeapUp(p, static_cast<size_t>(at));
  HeapDown(p, static_cast<size_t>(p->probes[last].heapAt));
}

void OnTimer(uv_timer_t* t);
void OnCheck(uv_check_t* c);

// The timer armed for the heap's least deadline (it may fire early, a probe having ended: it then
// arms again).
void Arm(Prober* p) {
  if (p->heap.empty()) {
    if (p->armedFor != kNever) uv_timer_stop(&p->timer);
    p->armedFor = kNever;
    return;
  }
  uint64_t due = p->probes[p->heap[0]].deadline;
  if (due == p->armedFor) return;
  uint64_t now = uv_now(p->poll.loop);
  uv_timer_start(&p->timer, OnTimer, due > now ? due - now : 0, 0);
  p->armedFor = due;
}

// --- probes ---

// The probe's socket closed (with a reset from a fixed port when connected), its slot free.
void Release(Prober* p, uint32_t slot, bool connected, bool armed) {
  Probe& pr = p->probes[slot];
  if (armed) epoll_ctl(p->epfd, EPOLL_CTL_DEL, pr.fd, nullptr);  // not left armed should a forked child hold the socket
  if (connected && pr.fixedPort) {
    struct linger l = {1, 0};
    setsockopt(pr.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close(pr.fd);
  pr.fd = -1;
  HeapRemove(p, slot);
  p->freeSlots.push_back(slot);
  if (--p->inflight == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));
}

void Note(Prober* p, uint32_t slot, int32_t code) {
  p->out[2 * p->outN] = static_cast<int32_t>(slot);
  p->out[2 * p->outN + 1] = code;
  p->outN++;
  if (code == 0) p->connected++;
  else if (code == kTimedOut) p->timedOut++;
  else p->failed++;
}

// The results written so far, to JS in one call. False when JS closed the prober meanwhile.
bool Deliver(Prober* p) {
  uint32_t n = p->outN;
  p->outN = 0;
  if (n == 0) return !p->stopped;
  Napi::Env env(p->env);
  Napi::HandleScope scope(env);
  napi_value argv[1] = {Napi::Number::New(env, n)};
  // MakeCallback: nextTicks and microtasks (the checks' promises) run after it, as after any I/O
  // callback; napi_make_callback needs an object receiver.
  p->cb.MakeCallback(env.Global(), 1, argv, *p->ctx);
  if (env.IsExceptionPending()) {
    // Reported as any failing I/O callback's: 'uncaughtException', or exit if nobody handles it.
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
  return !p->stopped;
}

// The epoll set has sockets whose connect ended: taken from it now (kEventsPerTurn a turn at most),
// looked at and closed in this turn's check phase (OnCheck), after the poll phase's other callbacks.
// So a listener in this process (tests: a server on 127.0.0.1) accepts a connection before the reset
// from a fixed port closes it, as when each check was a socket of libuv's own: the epoll set's fd,
// which the kernel queues again each time it tells libuv of it, may come before the listener's.
void OnReady(uv_poll_t* h, int status, int /*events*/) {
  Prober* p = static_cast<Prober*>(h->data);
  if (p->stopped) return;
  if (status < 0) {
    // libuv stopped the handle on an error (an epoll fd has none of its own): poll again, or every
    // connect under way would end only by its timeout.
    uv_poll_start(&p->poll, UV_READABLE, OnReady);
    return;
  }
  size_t have = p->ready.size();
  if (have >= kEventsPerTurn) return;  // libuv polled again within this turn: the rest wait for the next
  p->ready.resize(kEventsPerTurn);
  int n;
  do {
    n = epoll_wait(p->epfd, p->ready.data() + have, static_cast<int>(kEventsPerTurn - have), 0);
  } while (n < 0 && errno == EINTR);
  p->ready.resize(have + (n > 0 ? static_cast<size_t>(n) : 0));
  if (!p->ready.empty()) uv_check_start(&p->check, OnCheck);
}

void OnCheck(uv_check_t* c) {
  Prober* p = static_cast<Prober*>(c->data);
  uv_check_stop(&p->check);
  if (p->stopped) return;
  // A copy: JS, called when the results fill `out`, may start probes or close the prober.
  epoll_event ev[kEventsPerTurn];
  size_t n = p->ready.size();
  std::copy(p->ready.begin(), p->ready.end(), ev);
  p->ready.clear();
  for (size_t i = 0; i < n; i++) {
    uint32_t slot = static_cast<uint32_t>(ev[i].data.u64);
    uint32_t gen = static_cast<uint32_t>(ev[i].data.u64 >> 32);
    if (slot >= p->probes.size() || p->probes[slot].fd < 0 || p->probes[slot].gen != gen) continue;
    int err = 0;
    // Writable with no error nor hang-up: connected (no SO_ERROR to ask: one syscall less a check).
    if ((ev[i].events & (EPOLLERR | EPOLLHUP)) != 0 || (ev[i].events & EPOLLOUT) == 0) {
      socklen_t len = sizeof err;
      if (getsockopt(p->probes[slot].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0 && (ev[i].events & EPOLLOUT) == 0) err = ECONNRESET;  // hung up without an error: not connected
    }
    // EPOLLONESHOT: the socket is disarmed now, no EPOLL_CTL_DEL needed before its close.
    Release(p, slot, err == 0, false);
    Note(p, slot, err);
    if (p->outN == p->outCap && !Deliver(p)) return;
  }
  Deliver(p);
}

// How a probe's connect ended when it did by now, else kTimedOut. libuv runs due timers before
// it polls: after the loop was held past a deadline (uvsd stopped by SIGSTOP, a paused VM, a CPU
// quota) the connect may have ended within it, its event not yet read (until 2026-12-07 it was
// timed out all the same, the server taken down after every such stall). One poll() of the socket:
// writable without an error, connected; an error or a hang-up, its SO_ERROR, as OnCheck reads them.
int32_t EndedBy(int fd) {
  pollfd pf = {fd, POLLOUT, 0};
  int n;
  do {
    n = poll(&pf, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return kTimedOut;
  if ((pf.revents & (POLLERR | POLLHUP)) == 0 && (pf.revents & POLLOUT) != 0) return 0;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) err = ECONNRESET;  // hung up without an error: not connected
  return err;
}

// Deadlines passed: those sockets closed, their results to JS now (a check phase could come only
// after the poll phase had waited for the next event or timer). A connect that ended meanwhile
// gives its own result (EndedBy), not a timeout.
void OnTimer(uv_timer_t* t) {
  Prober* p = static_cast<Prober*>(t->data);
  p->armedFor = kNever;
  if (p->stopped) return;
  for (;;) {
    uint64_t now = uv_now(p->poll.loop);
    while (!p->heap.empty() && p->probes[p->heap[0]].deadline <= now && p->outN < p->outCap) {
      uint32_t slot = p->heap[0];
      int32_t code = EndedBy(p->probes[slot].fd);
      Release(p, slot, code == 0, true);
      Note(p, slot, code);
    }
    if (p->outN == 0) break;
    if (!Deliver(p)) return;
  }
  Arm(p);
}

// Every socket closed, the epoll fd too; the handles stopped (closed by the caller).
void CloseAll(Prober* p) {
  for (Probe& pr : p->probes) {
    if (pr.fd >= 0) close(pr.fd);
    pr.fd = -1;
  }
  p->probes.clear();
  p->probes.shrink_to_fit();
  p->freeSlots.clear();
  p->freeSlots.shrink_to_fit();
  p->heap.clear();
  p->heap.shrink_to_fit();
  p->ready.clear();
  p->ready.shrink_to_fit();
  p->inflight = 0;
  uv_check_stop(&p->check);
  uv_timer_stop(&p->timer);
  uv_poll_stop(&p->poll);  // before its fd closes (libuv takes it out of its own epoll set here)
  if (p->epfd >= 0) close(p->epfd);
  p->epfd = -1;
}

// The pins on `out`, the callback and its async context (idempotent).
void ReleaseJs(Prober* p) {
  p->outRef.Reset();
  p->reqRef.Reset();
  p->req = nullptr;
  p->reqCap = 0;
  p->cb.Reset();
  p->ctx.reset();
  p->out = nullptr;
  p->outCap = 0;
}

void OnClosed(uv_handle_t* h) {
  Prober* p = static_cast<Prober*>(h->data);
  // The pins dropped once the handles are closed: not in Stop(), which may run inside the
  // callback (onResults calling close()).
  if (--p->open == 0) ReleaseJs(p);
  MaybeFree(p);
}

void OnEnvCleanup(void* arg);

void Stop(Prober* p) {
  if (p->stopped) return;
  p->stopped = true;
  if (p->hooked) napi_remove_env_cleanup_hook(p->env, OnEnvCleanup, p);
  p->hooked = false;
  CloseAll(p);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->timer), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->check), OnClosed);
}

// The environment goes away (a worker thread ending, process.exit()) with the prober open: its
// handles are closed here, since a worker's loop must close with none open or Node aborts the
// process, and without close callbacks, which libuv would run in the thread's last loop turn when
// the addon may be unloaded already (as rx.cc): the Prober (~300 bytes) stays allocated. Every
// socket and the epoll fd are closed.
void OnEnvCleanup(void* arg) {
  Prober* p = static_cast<Prober*>(arg);
  p->hooked = false;  // Node forgets a hook once it ran
  p->stopped = true;
  CloseAll(p);
  ReleaseJs(p);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->timer), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->check), nullptr);
}

bool IsUint(double v, double max) { return v >= 0 && v <= max && v == std::floor(v); }

// A connect's arguments checked (ConnectFn, ConnectManyFn): null when good, else what is wrong.
const char* BadArgs(double dst, double dport, double src, double sport) {
  if (!IsUint(dst, 0xffffffffu)) return "connect: dst is not an IPv4 address (uint32)";
  if (!IsUint(dport, 65535)) return "connect: dstPort out of range";
  if (src != -1 && !IsUint(src, 0xffffffffu)) return "connect: src is not -1 or an IPv4 address (uint32)";
  if (!IsUint(sport, 65535)) return "connect: srcPort out of range";
  return nullptr;
}

// One probe started (arguments checked): its slot, or -errno when it failed at once.
int32_t StartProbe(Prober* p, double dst, double dport, double src, double sport, double timeout) {
  if (p->stopped) return -EBADF;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (src >= 0) {
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(static_cast<uint32_t>(src));
    sa.sin_port = htons(static_cast<uint16_t>(sport));
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
  }
  struct sockaddr_in da = {};
  da.sin_family = AF_INET;
  da.sin_addr.s_addr = htonl(static_cast<uint32_t>(dst));
  da.sin_port = htons(static_cast<uint16_t>(dport));
  int r;
  do {
    r = connect(fd, reinterpret_cast<struct sockaddr*>(&da), sizeof da);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return -err;
  }
  // Connected at once or under way: writable readiness says which, as for every other.
  uint32_t slot;
  if (!p->freeSlots.empty()) {
    slot = p->freeSlots.back();
    p->freeSlots.pop_back();
  } else {
    slot = static_cast<uint32_t>(p->probes.size());
    p->probes.emplace_back();
  }
  Probe& pr = p->probes[slot];
  pr.gen = p->nextGen++;
  epoll_event ev = {};
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.u64 = (static_cast<uint64_t>(pr.gen) << 32) | slot;
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    p->freeSlots.push_back(slot);
    return -err;
  }
  pr.fd = fd;
  pr.fixedPort = src >= 0 && sport != 0;
  // connect_timeout as Node's timers take a delay: below 1 ms (or NaN) 1 ms; Infinity (or past
  // what a uint64 of ms holds) never.
  uint64_t now = uv_now(p->poll.loop);
  if (!(timeout >= 1)) timeout = 1;
  pr.deadline = timeout >= static_cast<double>(kNever - now) ? kNever : now + static_cast<uint64_t>(timeout);
  if (pr.deadline != kNever) {
    pr.heapAt = static_cast<int32_t>(p->heap.size());
    p->heap.push_back(slot);
    HeapUp(p, p->heap.size() - 1);
    if (pr.deadline < p->armedFor) Arm(p);
  }
  if (p->inflight++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&p->poll));
  p->started++;
  return static_cast<int32_t>(slot);
}

// connect(dst, dstPort, src, srcPort, timeoutMs) -> slot (>= 0; its result comes to onResults),
// or -errno when the connect failed at once (socket(), bind(), connect(), epoll_ctl(): EMFILE,
// EADDRNOTAVAIL, ENETUNREACH, ...). dst and src: IPv4 addresses as uint32 (host order); src -1:
// no bind, else a bind to src:srcPort first (SO_REUSEADDR, as libuv binds for net.connect's
// localAddress/localPort).
Napi::Value ConnectFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Prober* p = static_cast<Prober*>(info.Data());
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber())
    return ThrowType(env, "connect(dst: number, dstPort: number, src: number, srcPort: number, timeoutMs: number)");
  double dst = info[0].As<Napi::Number>().DoubleValue();
  double dport = info[1].As<Napi::Number>().DoubleValue();
  double src = info[2].As<Napi::Number>().DoubleValue();
  double sport = info[3].As<Napi::Number>().DoubleValue();
  double timeout = info[4].As<Napi::Number>().DoubleValue();
  if (const char* bad = BadArgs(dst, dport, src, sport)) return ThrowRange(env, bad);
  return Napi::Number::New(env, StartProbe(p, dst, dport, src, sport, timeout));
}

// connectMany(n): the first n connects of the requests array given to probeOpen, each
// kRequestFields numbers [dst, dstPort, src, srcPort, timeoutMs] as connect()'s arguments, in one
// call (a turn's checks: one call into the addon, not one each). Each one's slot or -errno is
// written over its dst. Checked first, all of them: a bad one throws and none is started.
Napi::Value ConnectManyFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Prober* p = static_cast<Prober*>(info.Data());
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "connectMany(n: number)");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!IsUint(n, static_cast<double>(p->reqCap))) return ThrowRange(env, "connectMany: n is more than the requests array holds");
  double* q = p->req;
  for (uint32_t i = 0; i < static_cast<uint32_t>(n); i++) {
    const double* r = q + kRequestFields * i;
    if (const char* bad = BadArgs(r[0], r[1], r[2], r[3])) return ThrowRange(env, bad);
  }
  for (uint32_t i = 0; i < static_cast<uint32_t>(n); i++) {
    double* r = q + kRequestFields * i;
    r[0] = StartProbe(p, r[0], r[1], r[2], r[3], r[4]);
  }
  return env.Undefined();
}

Napi::Value CloseFn(const Napi::CallbackInfo& info) {
  Stop(static_cast<Prober*>(info.Data()));
  return info.Env().Undefined();
}

// stats() -> { inFlight, slots, started, connected, failed, timedOut }
Napi::Value StatsFn(const Napi::CallbackInfo& info) {
  const Prober* p = static_cast<Prober*>(info.Data());
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("inFlight", Napi::Number::New(env, p->inflight));
  o.Set("slots", Napi::Number::New(env, static_cast<double>(p->probes.size())));
  o.Set("started", Napi::Number::New(env, p->started));
  o.Set("connected", Napi::Number::New(env, p->connected));
  o.Set("failed", Napi::Number::New(env, p->failed));
  o.Set("timedOut", Napi::Number::New(env, p->timedOut));
  return o;
}

}  // namespace

// probeOpen(results: Int32Array, onResults: (count) => void, requests?: Float64Array)
//   -> { connect(), connectMany(), close(), stats() }
// results holds length/2 [slot, code] pairs: onResults(count) reads the first count of them;
// requests holds length/kRequestFields connectMany() requests (none without it).
// Throws an errno error when the epoll fd cannot be made (EMFILE, ...).
Napi::Value ProbeOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[0].As<Napi::TypedArray>().ElementLength() < 2)
    return ThrowType(env, "probeOpen: results must be an Int32Array of at least 2");
  if (!info[1].IsFunction()) return ThrowType(env, "probeOpen: onResults must be a function");
  bool hasReq = info.Length() >= 3 && !info[2].IsUndefined();
  if (hasReq && (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array))
    return ThrowType(env, "probeOpen: requests must be a Float64Array");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "probeOpen: no uv loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return ThrowErrno(env, "epoll_create1", "", errno);
  std::unique_ptr<Prober> p(new Prober());
  p->env = env;
  p->epfd = epfd;
  int r = uv_poll_init(loop, &p->poll, epfd);
  if (r < 0) {
    close(epfd);
    return ThrowErrno(env, "uv_poll_init", "", -r);
  }
  p->poll.data = p.get();
  uv_timer_init(loop, &p->timer);  // cannot fail
  p->timer.data = p.get();
  uv_check_init(loop, &p->check);  // cannot fail
  p->check.data = p.get();
  // The poll handle alone keeps the loop, and only while probes are in flight (Release, ConnectFn).
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->timer));
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->check));
  r = uv_poll_start(&p->poll, UV_READABLE, OnReady);
  if (r < 0) {
    // The handles are initialised: libuv owns them until closed; freed once all are.
    Prober* q = p.release();
    q->stopped = true;
    q->jsFns = 0;
    close(q->epfd);
    q->epfd = -1;
    uv_close(reinterpret_cast<uv_handle_t*>(&q->poll), OnClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&q->timer), OnClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&q->check), OnClosed);
    return ThrowErrno(env, "uv_poll_start", "", -r);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));
  Napi::Int32Array out = info[0].As<Napi::Int32Array>();
  p->out = out.Data();
  p->outCap = static_cast<uint32_t>(out.ElementLength() / 2);
  p->outRef = Napi::Persistent(info[0].As<Napi::Object>());
  if (hasReq) {
    Napi::Float64Array req = info[2].As<Napi::Float64Array>();
    p->req = req.Data();
    p->reqCap = static_cast<uint32_t>(req.ElementLength() / kRequestFields);
    p->reqRef = Napi::Persistent(info[2].As<Napi::Object>());
  }
  p->cb = Napi::Persistent(info[1].As<Napi::Function>());
  p->ctx.reset(new Napi::AsyncContext(env, "uvs:probe"));

  Prober* q = p.release();
  // Hooks run newest first: before the addon's environment itself is torn down.
  q->hooked = napi_add_env_cleanup_hook(env, OnEnvCleanup, q) == napi_ok;
  auto fin = [](Napi::Env, Prober* x) { x->jsFns--; MaybeFree(x); };
  Napi::Function connectFn = Napi::Function::New(env, ConnectFn, "connect", q);
  connectFn.AddFinalizer(fin, q);
  Napi::Function connectManyFn = Napi::Function::New(env, ConnectManyFn, "connectMany", q);
  connectManyFn.AddFinalizer(fin, q);
  Napi::Function closeFn = Napi::Function::New(env, CloseFn, "close", q);
  closeFn.AddFinalizer(fin, q);
  Napi::Function statsFn = Napi::Function::New(env, StatsFn, "stats", q);
  statsFn.AddFinalizer(fin, q);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("connect", connectFn);
  handle.Set("connectMany", connectManyFn);
  handle.Set("close", closeFn);
  handle.Set("stats", statsFn);
  return handle;
}

}  // namespace uvs
