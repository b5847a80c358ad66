// Event-driven receive: a uv_poll_t on the port fd in Node's own loop. On readiness the addon
// drains the fd in batches and calls onBatch(count) once per batch, so JS is entered once per
// batch and never per frame.
#include "common.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <uv.h>
#include <algorithm>
#include <memory>

namespace uvs {

namespace {

// Frames between looks at the rest of the event loop (uvsd --rx-budget; this default when rxStart
// gets none). After each budget of frames the addon checks whether anything else waits for the
// loop (a timer due, another fd ready: the control socket, metrics, health checks, signals,
// worker messages, immediates) and returns to it if so; otherwise it goes on draining, up to
// kBudgetsPerWake budgets. So a control request waits at most about one budget (256 frames, about
// 0.5-1 ms of work here) at full load, as when every budget ended the turn, but a flood with
// nothing else to do costs no loop turns: each turn costs a few µs and Node allocates on every one
// (docs/architecture.md).
constexpr uint32_t kDefaultFramesPerWake = 256;
constexpr uint32_t kMaxFramesPerWake = 65536;
// Budgets per readiness event at most, even when nothing else seems to wait (a bound in case
// something waits in a way OthersWaiting does not see).
constexpr uint32_t kBudgetsPerWake = 8;
// With io_uring every read asked for costs an operation even when no frame is queued, so the
// batch asks for about twice what the last one got (never fewer than this), doubling up to max
// while batches come back full.
constexpr uint32_t kMinWant = 8;

struct Rx {
  uv_poll_t poll;  // first member: the libuv callbacks cast back to Rx
  napi_env env;
  int fd;
  uint8_t* buf;    // backing stores of buf/lens: pinned by the references below
  uint32_t* lens;
  uint32_t stride;
  uint32_t max;
  uint32_t want;  // reads to ask for next (<= max)
  uint32_t budget;  // frames between looks at the rest of the loop (OthersWaiting)
  double* clock = nullptr;  // optional [now, origin]: now = uv_hrtime() in ms - origin, before each batch
  Napi::ObjectReference bufRef;
  Napi::ObjectReference lensRef;
  Napi::ObjectReference clockRef;
  Napi::FunctionReference cb;
  std::unique_ptr<Napi::AsyncContext> ctx;
  double wakes = 0;   // readiness events that delivered frames
  double frames = 0;  // frames delivered
  bool stopped = false;     // stop() called (or a fatal error): do not touch buf/lens any more
  bool closed = false;      // uv_close finished
  bool hooked = false;      // OnEnvCleanup registered (until Stop)
  int jsFns = 2;  // the JS stop() and stats() functions not yet collected
};

// Rx is freed only when libuv is done with the poll handle and JS can no longer call stop() or stats().
void MaybeFree(Rx* rx) {
  if (rx->closed && rx->jsFns == 0) delete rx;
}

// The pins on buf/lens/clock, the callback and its async context (idempotent).
void ReleaseJs(Rx* rx) {
  rx->bufRef.Reset();
  rx->lensRef.Reset();
  rx->clockRef.Reset();
  rx->cb.Reset();
  rx->ctx.reset();
}

void OnClosed(uv_handle_t* h) {
  Rx* rx = reinterpret_cast<Rx*>(h);
  rx->closed = true;
  // Drop the pins now rather than at GC time of the handle.
  ReleaseJs(rx);
  MaybeFree(rx);
}

void OnEnvCleanup(void* arg);

void Stop(Rx* rx) {
  if (rx->stopped) return;
  rx->stopped = true;
  if (rx->hooked) napi_remove_env_cleanup_hook(rx->env, OnEnvCleanup, rx);
  rx->hooked = false;
  uv_poll_stop(&rx->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&rx->poll), OnClosed);
}

// The environment goes away with the handle still polling: a worker thread that ended on an
// uncaught error, process.exit() or terminate(). A worker's loop must close with no
// handle open, or Node aborts the whole process ("uv_loop_close() while having open handles"),
// so the handle is closed here, and the JS references dropped while the environment still
// answers. No close callback: libuv runs it in the thread's last loop turn, when the addon may be
// unloaded already (no other environment holding it), so rx stays allocated (~200 bytes once per
// environment that ended with a port polling).
void OnEnvCleanup(void* arg) {
  Rx* rx = static_cast<Rx*>(arg);
  rx->hooked = false;  // Node forgets a hook once it ran
  rx->stopped = true;
  ReleaseJs(rx);
  uv_poll_stop(&rx->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&rx->poll), nullptr);
}

// Report like any failing I/O callback: 'uncaughtException', or exit if nobody handles it.
void RaiseUncaught(Napi::Env env, Napi::Value err) {
  napi_fatal_exception(env, err);
}

// The port's fd failed (e.g. its interface was deleted): reading stopped. Raised once as an
// uncaught error marked `portFailure`, on which uvsd stops in order (src/cli/uvsd.ts).
void RaisePortFailure(Napi::Env env, Napi::Error e) {
  e.Set("portFailure", Napi::Boolean::New(env, true));
  RaiseUncaught(env, e.Value());
}

// What waits in the rest of the loop: a timer due, pending or idle work (immediates), a watcher
// started in this turn, or an fd ready in libuv's epoll set (looked at without consuming anything:
// libuv's watchers are level-triggered and keep their fd in data.fd). With `wait`, blocks in that
// epoll_wait up to the next timer, as libuv itself would: kOurs when our fd alone became ready
// (without error or hang-up, which libuv reports to OnReadable), kOthers for anything else.
enum class Next { kOthers, kOurs, kNothing };

Next LookAtLoop(Rx* rx, bool wait) {
  uv_loop_t* loop = rx->poll.loop;
  uv_update_time(loop);
  int timeout = uv_backend_timeout(loop);
  if (timeout == 0) return Next::kOthers;
#if UV_VERSION_MAJOR == 1 && UV_VERSION_MINOR >= 45
  // A watcher started in this turn (a control connection just accepted, its request maybe already
  // there) reaches epoll's set only when libuv polls again: let it. libuv keeps such watchers in
  // this queue of its loop (a field of uv_loop_t, private but declared in uv/unix.h since 1.45);
  // without the check the kBudgetsPerWake bound still holds.
  if (loop->watcher_queue.next != &loop->watcher_queue) return Next::kOthers;
#endif
  epoll_event ev[2];
  int n = epoll_wait(uv_backend_fd(loop), ev, 2, wait ? timeout : 0);
  if (n < 0) return Next::kOthers;  // cannot tell (or a signal): let the loop run
  if (n == 0) return wait ? Next::kOthers : Next::kNothing;  // waited: a timer is due
  for (int i = 0; i < n; i++)
    if (ev[i].data.fd != rx->fd || (ev[i].events & (EPOLLERR | EPOLLHUP)) != 0) return Next::kOthers;
  return Next::kOurs;
}

bool OthersWaiting(Rx* rx) { return LookAtLoop(rx, false) == Next::kOthers; }

// The interface a packet socket is bound to (getsockname's sll_ifindex: -1 once that interface was
// unregistered) in *ifindex; false when fd is no packet socket (a TAP) or the lookup failed.
bool PacketIfindex(int fd, int* ifindex) {
  struct sockaddr_ll sll;
  socklen_t sl = sizeof sll;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sll), &sl) < 0 || sll.sll_family != AF_PACKET) return false;
  *ifindex = sll.sll_ifindex;
  return true;
}

// The ring backend's interface set down (not deleted): the kernel marks its packet socket with
// ENETDOWN, which poll reports as an error (libuv then stops the handle and says EBADF). Reading
// SO_ERROR clears the mark; the socket stays bound and receives again once the interface is up.
// A deleted interface unbinds the socket (getsockname's ifindex -1): that stays a port failure,
// as does any error of a TAP (not a socket).
bool OnlyInterfaceDown(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != ENETDOWN) return false;
  int ifindex = 0;
  return PacketIfindex(fd, &ifindex) && ifindex > 0;
}

// What a failed poll of fd means: libuv says EBADF for any error poll reports on the fd; a ring
// socket whose interface was deleted (set down first: ENETDOWN, then unbound, getsockname's
// ifindex -1, as CI saw on 2026-12-06 with --workers 2) says so instead of "bad file descriptor".
std::string PollFailure(int fd, int status) {
  int ifindex = 0;
  if (PacketIfindex(fd, &ifindex) && ifindex <= 0) return "its interface is gone (the ring socket was unbound: deleted, or moved to another namespace)";
  return uv_strerror(status);
}

void OnReadable(uv_poll_t* h, int status, int /*events*/) {
  Rx* rx = reinterpret_cast<Rx*>(h);
  if (rx->stopped) return;
  Napi::Env env(rx->env);
  Napi::HandleScope scope(env);
  if (status < 0 && OnlyInterfaceDown(rx->fd) && uv_poll_start(&rx->poll, UV_READABLE, OnReadable) == 0) return;
  if (status < 0) {
    Stop(rx);
    RaisePortFailure(env, Napi::Error::New(env, std::string("rx poll fd ") + std::to_string(rx->fd) + ": " + PollFailure(rx->fd, status)));
    return;
  }
  uint32_t limit = rx->budget;
  uint32_t done = 0;
  bool waited = false;  // this read follows a wait that saw our fd ready
  for (;;) {
    if (done >= limit) {
      if (limit >= rx->budget * kBudgetsPerWake || OthersWaiting(rx)) break;
      limit += rx->budget;
    }
    int err;
    uint32_t want = std::min(rx->want, limit - done);
    uint32_t n = HasPacketRing(rx->fd) ? PacketRingRead(rx->fd, rx->buf, rx->stride, rx->lens, want, &err)
                                       : UringReadFrames(rx->fd, rx->buf, rx->stride, rx->lens, want, &err);
    done += n;
    rx->want = n == want ? std::min(rx->max, want * 2) : std::min(rx->max, std::max(kMinWant, n * 2));
    if (n > 0) {
      if (done == n) rx->wakes++;
      rx->frames += n;
      // The batch's time for the callback to read from memory: a clock call from JavaScript
      // returns a boxed double (16 bytes of garbage per batch); this store allocates nothing.
      if (rx->clock) rx->clock[0] = static_cast<double>(uv_hrtime()) / 1e6 - rx->clock[1];
      // MakeCallback: runs nextTicks/microtasks after the batch and keeps async context, as for
      // any Node I/O callback.
      napi_value argv[1] = {Napi::Number::New(env, n)};
      // napi_make_callback needs an object receiver (undefined throws a TypeError).
      rx->cb.MakeCallback(env.Global(), 1, argv, *rx->ctx);
      if (env.IsExceptionPending()) {
        // Leave the loop running: the process decides (uncaughtException or exit).
        Napi::Error e = env.GetAndClearPendingException();
        RaiseUncaught(env, e.Value());
        return;
      }
      if (rx->stopped) return;  // onBatch called stop(): buf/lens may be gone
    }
    if (err) {
      // A hard read error would repeat on every wake-up; stop and report it once.
      Stop(rx);
      RaisePortFailure(env, ErrnoError(env, "read", "fd " + std::to_string(rx->fd), err));
      return;
    }
    if (n < want) {
      // Drained. Wait for the next frame here, not in libuv, while nothing else would run before
      // it (LookAtLoop: the same epoll_wait libuv would block in). Every return to libuv is a
      // loop turn, and Node allocates on each (an empty Object per check phase: src/env.cc,
      // RunAndClearNativeImmediates, Node 20): below full rate, a turn per frame or two made
      // ~56 bytes of garbage per frame, a scavenge every few seconds. The frame bound per
      // readiness event (kBudgetsPerWake budgets) holds across the waits.
      if (n == 0 && waited) break;  // ready but nothing to read: let libuv look
      if (LookAtLoop(rx, true) != Next::kOurs) break;
      waited = true;
      continue;
    }
    waited = false;
  }
}

Napi::Value StopFn(const Napi::CallbackInfo& info) {
  Stop(static_cast<Rx*>(info.Data()));
  return info.Env().Undefined();
}

// stats() -> { wakes, frames }: readiness events that delivered frames, and the frames.
Napi::Value StatsFn(const Napi::CallbackInfo& info) {
  const Rx* rx = static_cast<Rx*>(info.Data());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("wakes", Napi::Number::New(info.Env(), rx->wakes));
  o.Set("frames", Napi::Number::New(info.Env(), rx->frames));
  return o;
}

}  // namespace

// rxStart(fd, buf, stride, lens, max, onBatch, budget?, clock?) -> { stop(), stats() }
// clock: a Float64Array of 2; before each onBatch the addon sets clock[0] = uv_hrtime() in ms -
// clock[1] (the caller's origin: with clock[1] = hrtime ms - performance.now(), clock[0] is the
// batch's performance.now()).
Napi::Value RxStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint8_t* buf;
  uint32_t stride, max;
  uint32_t* lens;
  if (!CheckRxArgs(info, 1, &buf, &stride, &lens, &max)) return env.Undefined();
  if (max == 0) return ThrowRange(env, "max must be > 0");
  if (!info[5].IsFunction()) return ThrowType(env, "onBatch must be a function");
  uint32_t budget = kDefaultFramesPerWake;
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    if (!info[6].IsNumber()) return ThrowType(env, "budget must be a number");
    int64_t b = info[6].As<Napi::Number>().Int64Value();
    if (b < 1 || b > kMaxFramesPerWake) return ThrowRange(env, "budget out of range (1..65536)");
    budget = static_cast<uint32_t>(b);
  }
  double* clock = nullptr;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    if (!info[7].IsTypedArray() || info[7].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[7].As<Napi::TypedArray>().ElementLength() < 2)
      return ThrowType(env, "clock must be a Float64Array of at least 2");
    Napi::Float64Array c = info[7].As<Napi::Float64Array>();
    clock = c.Data();
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "rxStart: no uv loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::unique_ptr<Rx> rx(new Rx());
  rx->env = env;
  rx->fd = fd;
  rx->buf = buf;
  rx->lens = lens;
  rx->stride = stride;
  rx->max = max;
  rx->want = std::min(max, kMinWant);
  rx->budget = budget;
  rx->clock = clock;
  int r = uv_poll_init(loop, &rx->poll, fd);
  if (r < 0) return ThrowErrno(env, "uv_poll_init", "fd " + std::to_string(fd), -r);
  r = uv_poll_start(&rx->poll, UV_READABLE, OnReadable);
  if (r < 0) {
    // The handle is initialised, so libuv owns it until closed: hand it over to the close path.
    Rx* p = rx.release();
    p->stopped = true;
    p->jsFns = 0;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClosed);
    return ThrowErrno(env, "uv_poll_start", "fd " + std::to_string(fd), -r);
  }
  rx->bufRef = Napi::Persistent(info[1].As<Napi::Object>());
  rx->lensRef = Napi::Persistent(info[3].As<Napi::Object>());
  if (clock) rx->clockRef = Napi::Persistent(info[7].As<Napi::Object>());
  rx->cb = Napi::Persistent(info[5].As<Napi::Function>());
  rx->ctx.reset(new Napi::AsyncContext(env, "uvs:rx"));

  Rx* p = rx.release();
  // Hooks run newest first: before the addon's environment itself is torn down.
  p->hooked = napi_add_env_cleanup_hook(env, OnEnvCleanup, p) == napi_ok;
  Napi::Function stop = Napi::Function::New(env, StopFn, "stop", p);
  stop.AddFinalizer([](Napi::Env, Rx* x) { x->jsFns--; MaybeFree(x); }, p);
  Napi::Function stats = Napi::Function::New(env, StatsFn, "stats", p);
  stats.AddFinalizer([](Napi::Env, Rx* x) { x->jsFns--; MaybeFree(x); }, p);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("stop", stop);
  handle.Set("stats", stats);
  return handle;
}

}  // namespace uvs
