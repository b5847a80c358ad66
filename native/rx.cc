// Event-driven receive: a uv_poll_t on the port fd in Node's own loop. On readiness the addon
// drains the fd in batches and calls onBatch(count) once per batch, so JS is entered once per
// batch and never per frame.
#include "common.h"

#include <uv.h>
#include <algorithm>
#include <memory>

namespace uvs {

namespace {

// Frames per readiness event (uvsd --rx-budget; this default when rxStart gets none): bounded so
// timers, the control socket, metrics and health checks get their turn even under a flood
// (libuv polls again right away while the fd stays readable). 256 frames are about 1 ms of work
// here, so a control request waits about that long at full load (docs/architecture.md).
constexpr uint32_t kDefaultFramesPerWake = 256;
constexpr uint32_t kMaxFramesPerWake = 65536;
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
  uint32_t budget;  // frames per readiness event
  double* clock = nullptr;  // optional [now, origin]: now = uv_hrtime() in ms - origin, before each batch
  Napi::ObjectReference bufRef;
  Napi::ObjectReference lensRef;
  Napi::ObjectReference clockRef;
  Napi::FunctionReference cb;
  std::unique_ptr<Napi::AsyncContext> ctx;
  bool stopped = false;     // stop() called (or a fatal error): do not touch buf/lens any more
  bool closed = false;      // uv_close finished
  bool handleGone = false;  // the JS stop() function was collected
};

// Rx is freed only when libuv is done with the poll handle and JS can no longer call stop().
void MaybeFree(Rx* rx) {
  if (rx->closed && rx->handleGone) delete rx;
}

void OnClosed(uv_handle_t* h) {
  Rx* rx = reinterpret_cast<Rx*>(h);
  rx->closed = true;
  // Drop the pins now rather than at GC time of the handle.
  rx->bufRef.Reset();
  rx->lensRef.Reset();
  rx->clockRef.Reset();
  rx->cb.Reset();
  rx->ctx.reset();
  MaybeFree(rx);
}

void Stop(Rx* rx) {
  if (rx->stopped) return;
  rx->stopped = true;
  uv_poll_stop(&rx->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&rx->poll), OnClosed);
}

// Report like any failing I/O callback: 'uncaughtException', or exit if nobody handles it.
void RaiseUncaught(Napi::Env env, Napi::Value err) {
  napi_fatal_exception(env, err);
}

void OnReadable(uv_poll_t* h, int status, int /*events*/) {
  Rx* rx = reinterpret_cast<Rx*>(h);
  if (rx->stopped) return;
  Napi::Env env(rx->env);
  Napi::HandleScope scope(env);
  if (status < 0) {
    Stop(rx);
    Napi::Error e = Napi::Error::New(env, std::string("rx poll fd ") + std::to_string(rx->fd) + ": " + uv_strerror(status));
    RaiseUncaught(env, e.Value());
    return;
  }
  for (uint32_t done = 0; done < rx->budget;) {
    int err;
    uint32_t want = std::min(rx->want, rx->budget - done);
    uint32_t n = HasPacketRing(rx->fd) ? PacketRingRead(rx->fd, rx->buf, rx->stride, rx->lens, want, &err)
                                       : UringReadFrames(rx->fd, rx->buf, rx->stride, rx->lens, want, &err);
    done += n;
    rx->want = n == want ? std::min(rx->max, want * 2) : std::min(rx->max, std::max(kMinWant, n * 2));
    if (n > 0) {
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
      RaiseUncaught(env, ErrnoError(env, "read", "fd " + std::to_string(rx->fd), err).Value());
      return;
    }
    if (n < want) break;  // drained
  }
}

Napi::Value StopFn(const Napi::CallbackInfo& info) {
  Stop(static_cast<Rx*>(info.Data()));
  return info.Env().Undefined();
}

}  // namespace

// rxStart(fd, buf, stride, lens, max, onBatch, budget?, clock?) -> { stop() }
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
    p->handleGone = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClosed);
    return ThrowErrno(env, "uv_poll_start", "fd " + std::to_string(fd), -r);
  }
  rx->bufRef = Napi::Persistent(info[1].As<Napi::Object>());
  rx->lensRef = Napi::Persistent(info[3].As<Napi::Object>());
  if (clock) rx->clockRef = Napi::Persistent(info[7].As<Napi::Object>());
  rx->cb = Napi::Persistent(info[5].As<Napi::Function>());
  rx->ctx.reset(new Napi::AsyncContext(env, "uvs:rx"));

  Rx* p = rx.release();
  Napi::Function stop = Napi::Function::New(env, StopFn, "stop", p);
  stop.AddFinalizer([](Napi::Env, Rx* x) { x->handleGone = true; MaybeFree(x); }, p);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("stop", stop);
  return handle;
}

}  // namespace uvs
