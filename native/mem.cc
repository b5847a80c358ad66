// Memory preparation for the big typed arrays of the connection table.
// - Huge pages: random lookups over tens of megabytes miss the TLB on nearly every packet, and
//   under a hypervisor each miss is a two-level page walk; transparent huge pages (THP in
//   "madvise" mode is the common default) make those walks rare.
// - Prefaulting: a fresh array is only reserved; its pages are zeroed (and, in a VM, backed by
//   the host) on first write, which would otherwise happen on the packet path as the table
//   fills. MADV_POPULATE_WRITE (Linux 5.14) does all of that once, at startup.
#include <sys/mman.h>
#include <unistd.h>
#include "common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace uvs {

// prepareTable(view: TypedArray) → { huge, populated }: bytes advised for huge pages and bytes
// prefaulted (0 when the kernel refuses either; the array then just faults in lazily).
Napi::Value PrepareTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "prepareTable(view): view must be a TypedArray");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  uintptr_t start = reinterpret_cast<uintptr_t>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  uintptr_t end = start + ta.ByteLength();
  double huge = 0, populated = 0;
  const uintptr_t hp = 2u << 20;
  uintptr_t a = (start + hp - 1) & ~(hp - 1);
  uintptr_t b = end & ~(hp - 1);
  if (b > a && madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE) == 0) huge = static_cast<double>(b - a);
  // Only whole pages inside the array: the partial pages at the ends belong to other memory.
  const uintptr_t pg = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  a = (start + pg - 1) & ~(pg - 1);
  b = end & ~(pg - 1);
  if (b > a && madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_WRITE) == 0) populated = static_cast<double>(b - a);
  Napi::Object r = Napi::Object::New(env);
  r.Set("huge", Napi::Number::New(env, huge));
  r.Set("populated", Napi::Number::New(env, populated));
  return r;
}

}  // namespace uvs
