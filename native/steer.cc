// Queue steering for uvsd --workers (TUNSETSTEERINGEBPF): a socket-filter eBPF program, written
// here as raw instructions and loaded with bpf(2) (no libbpf, no clang), that returns the queue
// of every frame the kernel hands to the multi-queue TAP (the kernel takes it modulo the number
// of queues). The ring backend's fanout group (PACKET_FANOUT_EBPF, native/ring.cc) runs the same
// rule built for L3: there the kernel has pulled the Ethernet header before the program runs.
// The rule (docs/architecture.md, "Workers"):
//   not IPv4 TCP/UDP/SCTP, or a fragment with offset > 0 -> 0
//   destination in the map with kind 2 (FULLNAT LIP)     -> destination port
//   destination in the map with kind 1 (VIP, --addr)     -> H(source address, source port)
//   destination in the map with kind 4 (VIP of a persistent service)
//                                                        -> H(source address & mask, 0)
//   otherwise (a NAT reply to a client): source in the map with kind 3 (a NAT server of a
//   kind-4 VIP)                                          -> H(destination address & mask, 0)
//   otherwise                                            -> H(destination address, destination port)
// with H(a, p) = ((a ^ p) * 0x9E3779B1) >> 16 in 32 bits: the same client endpoint hashes the same
// both ways, so a connection's two directions reach one worker; with a mask, every connection of
// a client network (a persistence template's key) reaches one worker. The map (u32 address in
// host order -> { u32 kind, u32 mask }) is kept in step with the control plane by
// src/datapath/steer.ts.
#include "common.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstddef>

namespace uvs {

namespace {

long Bpf(int cmd, union bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  memset(&i, 0, sizeof(i));
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

constexpr int32_t kHashMul = static_cast<int32_t>(0x9E3779B1u);

// l3 false: the data starts at the Ethernet header (the TAP's transmit path runs the program at
// L2); true: at the IP header (a fanout group on a received frame), the EtherType in skb->protocol.
std::vector<bpf_insn> Program(int mapFd, bool l3) {
  const int ip = l3 ? 0 : 14;
  const int kIpVhl = ip, kIpFrag = ip + 6, kIpProto = ip + 9, kIpSrc = ip + 12, kIpDst = ip + 16;
  const int kL4 = ip;  // + IP header length: source port; + 2: destination port
  std::vector<bpf_insn> p;
  auto ldAbs = [&](uint8_t size, int off) { p.push_back(Insn(BPF_LD | BPF_ABS | size, 0, 0, 0, off)); };
  auto ldInd = [&](uint8_t size, uint8_t reg, int off) { p.push_back(Insn(BPF_LD | BPF_IND | size, 0, reg, 0, off)); };
  auto jmpK = [&](uint8_t op, uint8_t reg, int32_t imm, int16_t off) { p.push_back(Insn(BPF_JMP | op | BPF_K, reg, 0, off, imm)); };
  auto alu64K = [&](uint8_t op, uint8_t reg, int32_t imm) { p.push_back(Insn(BPF_ALU64 | op | BPF_K, reg, 0, 0, imm)); };
  auto mov64R = [&](uint8_t dst, uint8_t src) { p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)); };
  auto exit_ = [&]() { p.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)); };
  // Jumps to RET0 are patched at the end (their index is recorded).
  std::vector<size_t> toRet0;
  auto jmpRet0 = [&](uint8_t op, uint8_t reg, int32_t imm) { toRet0.push_back(p.size()); jmpK(op, reg, imm, 0); };

  auto ldxW = [&](uint8_t dst, uint8_t src, int16_t off) { p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)); };
  auto stxW = [&](uint8_t dst, uint8_t src, int16_t off) { p.push_back(Insn(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0)); };
  auto and32R = [&](uint8_t dst, uint8_t src) { p.push_back(Insn(BPF_ALU | BPF_AND | BPF_X, dst, src, 0, 0)); };
  // r0 = map lookup of the u32 at fp-4 (clobbers r1-r5).
  auto lookup = [&]() {
    p.push_back(Insn(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, mapFd));
    p.push_back(Insn(0, 0, 0, 0, 0));
    mov64R(2, 10);
    alu64K(BPF_ADD, 2, -4);
    p.push_back(Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
  };
  std::vector<std::pair<size_t, int>> fixups;  // (jump index, label)
  enum { kNotLocal, kLip, kHash, kPlain };
  auto jmpTo = [&](uint8_t op, uint8_t reg, int32_t imm, int label) { fixups.push_back({p.size(), label}); jmpK(op, reg, imm, 0); };
  auto ja = [&](int label) { fixups.push_back({p.size(), label}); p.push_back(Insn(BPF_JMP | BPF_JA, 0, 0, 0, 0)); };

  mov64R(6, 1);                          // r6 = skb (LD_ABS/LD_IND read through r6)
  if (l3) {
    p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, 0, 6, offsetof(struct __sk_buff, protocol), 0));
    jmpRet0(BPF_JNE, 0, htons(0x0800));  // not IPv4 (skb->protocol is in network order)
  } else {
    ldAbs(BPF_H, 12);
    jmpRet0(BPF_JNE, 0, 0x0800);         // not IPv4
  }
  ldAbs(BPF_B, kIpProto);
  jmpK(BPF_JEQ, 0, 6, 2);                // TCP
  jmpK(BPF_JEQ, 0, 132, 1);              // SCTP (its ports where TCP's are)
  jmpRet0(BPF_JNE, 0, 17);               // nor UDP
  ldAbs(BPF_H, kIpFrag);
  alu64K(BPF_AND, 0, 0x1fff);
  jmpRet0(BPF_JNE, 0, 0);                // a later fragment: no ports
  ldAbs(BPF_B, kIpVhl);
  alu64K(BPF_AND, 0, 0xf);
  alu64K(BPF_LSH, 0, 2);
  mov64R(7, 0);                          // r7 = IP header length
  ldAbs(BPF_W, kIpDst);
  mov64R(8, 0);                          // r8 = destination address
  stxW(10, 8, -4);                       // key at fp-4
  lookup();
  jmpTo(BPF_JEQ, 0, 0, kNotLocal);
  ldxW(9, 0, 0);                         // r9 = kind
  jmpTo(BPF_JEQ, 9, 2, kLip);
  jmpTo(BPF_JEQ, 9, 3, kNotLocal);       // a NAT server's address as destination: not ours
  ldxW(1, 0, 4);
  stxW(10, 1, -8);                       // the entry's mask at fp-8 (LD_ABS clobbers r0-r5)
  ldAbs(BPF_W, kIpSrc);                  // a VIP or --addr: hash the source (the client)
  mov64R(8, 0);
  jmpK(BPF_JNE, 9, 4, 4);                // kind 1: with the source port
  ldxW(1, 10, -8);
  and32R(8, 1);                          // kind 4: the client's network, port 0
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  ja(kHash);
  ldInd(BPF_H, 7, kL4);
  ja(kHash);
  const size_t lip = p.size();
  ldInd(BPF_H, 7, kL4 + 2);              // a FULLNAT local address: the port says the worker
  exit_();
  const size_t notLocal = p.size();      // a reply to a client (r8 = its address)
  ldAbs(BPF_W, kIpSrc);
  stxW(10, 0, -4);
  lookup();
  jmpTo(BPF_JEQ, 0, 0, kPlain);
  ldxW(9, 0, 0);
  jmpTo(BPF_JNE, 9, 3, kPlain);
  ldxW(1, 0, 4);                         // from a NAT server of a masked VIP: the client's network
  and32R(8, 1);
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  ja(kHash);
  const size_t plain = p.size();
  ldInd(BPF_H, 7, kL4 + 2);              // otherwise the client's address and port
  const size_t hash = p.size();
  p.push_back(Insn(BPF_ALU | BPF_XOR | BPF_X, 0, 8, 0, 0));
  p.push_back(Insn(BPF_ALU | BPF_MUL | BPF_K, 0, 0, 0, kHashMul));
  p.push_back(Insn(BPF_ALU | BPF_RSH | BPF_K, 0, 0, 0, 16));
  exit_();
  const size_t ret0 = p.size();
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  exit_();
  auto patch = [&](size_t at, size_t to) { p[at].off = static_cast<int16_t>(to - at - 1); };
  const size_t labels[] = {notLocal, lip, hash, plain};
  for (const auto& f : fixups) patch(f.first, labels[f.second]);
  for (size_t at : toRet0) patch(at, ret0);
  return p;
}

bool FdArg(const Napi::CallbackInfo& info, size_t i, int* fd) {
  if (info.Length() <= i || !info[i].IsNumber()) return false;
  *fd = info[i].As<Napi::Number>().Int32Value();
  return *fd >= 0;
}

}  // namespace

// steerAttach(tapFd, maxEntries, l3) -> { prog, map } (fds); throws naming the refused step.
// tapFd -1: load only, attach nowhere (the ring backend's fanout group takes the program, built
// with l3 true; the unit test runs it with steerRun).
Napi::Value SteerAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "steerAttach: tapFd must be a file descriptor or -1");
  const int tapFd = info[0].As<Napi::Number>().Int32Value();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowType(env, "steerAttach: maxEntries must be a number");
  const uint32_t maxEntries = info[1].As<Napi::Number>().Uint32Value();
  if (maxEntries < 1 || maxEntries > (1u << 20)) return ThrowRange(env, "steerAttach: maxEntries out of range");
  const bool l3 = info.Length() > 2 && info[2].ToBoolean();
  if (l3 && tapFd >= 0) return ThrowType(env, "steerAttach: the L3 program is for a fanout group, not a TAP");

  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_type = BPF_MAP_TYPE_HASH;
  a.key_size = 4;
  a.value_size = 8;  // { kind, mask }
  a.max_entries = maxEntries;
  a.map_flags = BPF_F_NO_PREALLOC;
  const int mapFd = static_cast<int>(Bpf(BPF_MAP_CREATE, &a));
  if (mapFd < 0) return ThrowErrno(env, "BPF_MAP_CREATE", "steering map", errno);

  std::vector<bpf_insn> prog = Program(mapFd, l3);
  static char log[4096];
  log[0] = 0;
  const char license[] = "GPL";
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = reinterpret_cast<uint64_t>(prog.data());
  a.insn_cnt = static_cast<uint32_t>(prog.size());
  a.license = reinterpret_cast<uint64_t>(license);
  a.log_buf = reinterpret_cast<uint64_t>(log);
  a.log_size = sizeof(log);
  a.log_level = 1;
  int progFd = static_cast<int>(Bpf(BPF_PROG_LOAD, &a));
  if (progFd < 0 && errno == ENOSPC) {  // the log did not fit: load again without it
    a.log_buf = 0;
    a.log_size = 0;
    a.log_level = 0;
    progFd = static_cast<int>(Bpf(BPF_PROG_LOAD, &a));
  }
  if (progFd < 0) {
    const int err = errno;
    close(mapFd);
    // The verifier's last line says why.
    std::string why(log);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    const size_t nl = why.rfind('\n');
    if (nl != std::string::npos) why = why.substr(nl + 1);
    return ThrowErrno(env, "BPF_PROG_LOAD", why.empty() ? std::string("steering program") : "steering program: " + why, err);
  }
  if (tapFd >= 0 && ioctl(tapFd, TUNSETSTEERINGEBPF, &progFd) < 0) {
    const int err = errno;
    close(progFd);
    close(mapFd);
    return ThrowErrno(env, "TUNSETSTEERINGEBPF", "steering program", err);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("prog", progFd);
  out.Set("map", mapFd);
  return out;
}

// steerSet(mapFd, addr, kind, mask): kind 1 = VIP/--addr, 2 = FULLNAT local address, 3 = a NAT
// server of a kind-4 VIP, 4 = a VIP whose clients are hashed by network (persistence), 0 =
// delete; mask (kinds 3 and 4): the client network to hash. Returns true, or false when the kernel refused (the map is full; a
// delete of a missing key).
Napi::Value SteerSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int mapFd;
  if (!FdArg(info, 0, &mapFd) || info.Length() < 4 || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber())
    return ThrowType(env, "steerSet(mapFd, addr, kind, mask)");
  uint32_t key = info[1].As<Napi::Number>().Uint32Value();
  uint32_t value[2] = {info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value()};
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = static_cast<uint32_t>(mapFd);
  a.key = reinterpret_cast<uint64_t>(&key);
  if (value[0] == 0) return Napi::Boolean::New(env, Bpf(BPF_MAP_DELETE_ELEM, &a) == 0);
  a.value = reinterpret_cast<uint64_t>(value);
  a.flags = BPF_ANY;
  return Napi::Boolean::New(env, Bpf(BPF_MAP_UPDATE_ELEM, &a) == 0);
}

// steerEntries(mapFd) -> [addr (int32), kind, mask, addr, kind, mask, ...]: the map read back (tests).
Napi::Value SteerEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int mapFd;
  if (!FdArg(info, 0, &mapFd)) return ThrowType(env, "steerEntries(mapFd)");
  Napi::Array out = Napi::Array::New(env);
  uint32_t key = 0, next = 0, value[2] = {0, 0};
  bool first = true;
  union bpf_attr a;
  for (uint32_t n = 0;; ) {
    memset(&a, 0, sizeof(a));
    a.map_fd = static_cast<uint32_t>(mapFd);
    a.key = first ? 0 : reinterpret_cast<uint64_t>(&key);
    a.next_key = reinterpret_cast<uint64_t>(&next);
    if (Bpf(BPF_MAP_GET_NEXT_KEY, &a) != 0) break;
    first = false;
    key = next;
    memset(&a, 0, sizeof(a));
    a.map_fd = static_cast<uint32_t>(mapFd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(value);
    if (Bpf(BPF_MAP_LOOKUP_ELEM, &a) != 0) continue;
    out.Set(n++, Napi::Number::New(env, static_cast<int32_t>(key)));
    out.Set(n++, Napi::Number::New(env, value[0]));
    out.Set(n++, Napi::Number::New(env, value[1]));
  }
  return out;
}

// steerRun(progFd, frame, l3) -> the queue number the program returns for this Ethernet frame
// (BPF_PROG_TEST_RUN; not what the kernel's modulo makes of it). The test run strips one
// Ethernet header before the program runs (at L3 for a socket filter): as a fanout group does,
// so an L3 program gets the frame as it is; for the TAP's program a dummy header goes first, so
// that it sees the frame from its Ethernet header as on the TAP.
Napi::Value SteerRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int progFd;
  uint8_t* data;
  size_t len;
  if (!FdArg(info, 0, &progFd) || info.Length() < 2 || !GetBytes(info[1], &data, &len) || len > 65535)
    return ThrowType(env, "steerRun(progFd, frame, l3)");
  const size_t pre = info.Length() > 2 && info[2].ToBoolean() ? 0 : 14;
  std::vector<uint8_t> in(pre + len, 0);
  if (pre > 0) in[12] = 0x08;  // dummy header: IPv4
  memcpy(in.data() + pre, data, len);
  std::vector<uint8_t> out(in.size() + 256);
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.test.prog_fd = static_cast<uint32_t>(progFd);
  a.test.data_in = reinterpret_cast<uint64_t>(in.data());
  a.test.data_size_in = static_cast<uint32_t>(in.size());
  a.test.data_out = reinterpret_cast<uint64_t>(out.data());
  a.test.data_size_out = static_cast<uint32_t>(out.size());
  a.test.repeat = 1;
  if (Bpf(BPF_PROG_TEST_RUN, &a) != 0) return ThrowErrno(env, "BPF_PROG_TEST_RUN", "steering program", errno);
  return Napi::Number::New(env, a.test.retval);
}

}  // namespace uvs
