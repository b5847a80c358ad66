// Memory advice for the big typed arrays of the connection table. Random lookups over tens of
// megabytes miss the TLB on nearly every packet, and under a hypervisor each miss is a
// two-level page walk; backing the arrays with transparent huge pages (THP in "madvise" mode is
// the common default) makes those walks rare.
#include <sys/mman.h>
#include "common.h"

namespace uvs {

// adviseHugepages(view: ArrayBufferView) → bytes advised (0 when too small or refused).
Napi::Value AdviseHugepages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) return ThrowType(env, "adviseHugepages(view): view must be a TypedArray");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  uintptr_t start = reinterpret_cast<uintptr_t>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  uintptr_t end = start + ta.ByteLength();
  const uintptr_t huge = 2u << 20;
  uintptr_t a = (start + huge - 1) & ~(huge - 1);
  uintptr_t b = end & ~(huge - 1);
  if (b <= a) return Napi::Number::New(env, 0);
  if (madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE) != 0) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(b - a));
}

}  // namespace uvs
