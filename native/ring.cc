// The packet-ring port: an AF_PACKET socket on an existing interface (veth end or NIC) with a
// TPACKET_V2 receive ring mapped into the process, and sendmmsg() for transmit (one system call
// per batch). Received frames are copied from the ring's slots into the port's rxArena slots,
// so the datapath sees the same layout (stride, lens, headroom) as with the TAP port.
//
// Native state is per fd, like the io_uring state (uring.cc): rx.cc and batch.cc ask
// HasPacketRing(fd) and hand the batch over here. With uvsd --workers each worker thread owns one
// ring socket of a fanout group (PacketFanout): the map is shared, so it is locked; a Ring itself
// is only touched by the thread that owns its fd.
#include "common.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif
#ifndef TP_STATUS_GSO_TCP
#define TP_STATUS_GSO_TCP (1 << 8)  // Linux 6.7: a GRO super-frame (TCP)
#endif

namespace uvs {

namespace {

// The receive ring: TPACKET_V2, one slot per frame, handed to uvsd the moment the kernel has
// written it. (TPACKET_V3, used before, packs frames into blocks and hands a block over when full
// or after a retire timeout of at least 1 ms: below full rate every frame waited for it, 0.3 ms
// more on a round trip's median, and new TCP connections/s fell to ~0.7 of the TAP's; at full
// rate V2 forwarded as much, docs/performance.md 2026-12-04.) Slots hold a whole frame of the
// interface's MTU; 16 MiB of ring in blocks of 128 KiB: 8,192 frames at MTU 1500.
constexpr uint32_t kBlockSize = 1u << 17;
constexpr uint32_t kRingBytes = 1u << 24;
constexpr uint32_t kBlockNr = kRingBytes / kBlockSize;
constexpr uint32_t kMinFrameSize = 2048;
// Where the kernel puts a frame's MAC header in a V2 slot (tpacket_rcv: the aligned tpacket2_hdr
// and sockaddr_ll, then at least 16 bytes of room before the network header) and the largest
// link header in front of an MTU-sized packet (Ethernet with a VLAN tag): a slot holds an MTU frame.
constexpr uint32_t kSlotOverhead = 128;
constexpr uint32_t kTxChunk = 64;

struct Ring {
  int fd;
  uint8_t* map = nullptr;
  size_t mapLen = 0;
  uint32_t frameSize = 0;            // bytes per slot
  uint32_t framesPerBlock = 0;       // slots per block (a slot never spans two blocks)
  uint32_t block = 0;                // the slot we read next: block ...
  uint32_t slot = 0;                 // ... and slot within it
  uint64_t truncated = 0;            // frames longer than a slot or cut by the kernel: dropped
  uint64_t ringFull = 0;             // frames the kernel dropped on a full ring (PACKET_STATISTICS, summed)
  uint64_t csumPartial = 0;          // frames handed over with a partial checksum (TP_STATUS_CSUMNOTREADY)
  uint64_t gso = 0;                  // GRO super-frames (TP_STATUS_GSO_TCP), cut or not
  struct mmsghdr msgs[kTxChunk];
  struct iovec iov[kTxChunk];
};

std::mutex ringsLock;
std::unordered_map<int, std::unique_ptr<Ring>> rings;
// How many rings exist: a TAP's batches (rx.cc, batch.cc ask HasPacketRing per batch) skip the lock.
std::atomic<int> ringCount{0};

Ring* Find(int fd) {
  if (ringCount.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard<std::mutex> g(ringsLock);
  auto it = rings.find(fd);
  return it == rings.end() ? nullptr : it->second.get();
}

// One's-complement sum of len bytes at p (big-endian 16-bit words), added to sum.
uint32_t OnesSum(const uint8_t* p, uint32_t len, uint32_t sum) {
  uint64_t s = sum;
  uint32_t i = 0;
  for (; i + 1 < len; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (i < len) s += static_cast<uint32_t>(p[i] << 8);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

// A frame the kernel handed over with CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY: its sender's
// checksum offload, or GRO): the L4 checksum field holds only the pseudo-header sum, to be
// completed by a NIC that will never see it (the ring is the end of the kernel's path; a packet
// socket has no csum_start without PACKET_VNET_HDR). For an untagged IPv4 TCP or UDP packet the
// checksum is computed whole here, in place (the pseudo-header and the segment as the IP header's
// total length says); anything else is left as it is (counted all the same: SCTP's CRC32c left
// to offload by a kernel with SCTP, which the lab's has not, is not completed).
void CompleteChecksum(uint8_t* d, uint32_t len) {
  if (len < 14 + 20 || d[12] != 0x08 || d[13] != 0x00) return;
  uint8_t* ip = d + 14;
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  const uint32_t total = static_cast<uint32_t>(ip[2] << 8 | ip[3]);
  if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || total > len - 14) return;
  if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return;  // a fragment (MF or an offset): never partial
  const uint8_t proto = ip[9];
  uint8_t* l4 = ip + ihl;
  const uint32_t l4len = total - ihl;
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    const uint32_t at = proto == IPPROTO_TCP ? 16 : 6;
    if (l4len < (proto == IPPROTO_TCP ? 20u : 8u)) return;
    l4[at] = 0;
    l4[at + 1] = 0;
    uint32_t sum = OnesSum(ip + 12, 8, proto + l4len);
    sum = OnesSum(l4, l4len, sum);
    uint16_t c = static_cast<uint16_t>(~sum);
    if (proto == IPPROTO_UDP && c == 0) c = 0xffff;
    l4[at] = static_cast<uint8_t>(c >> 8);
    l4[at + 1] = static_cast<uint8_t>(c);
  }
}

}  // namespace

bool HasPacketRing(int fd) {
  return Find(fd) != nullptr;
}

void DropPacketRing(int fd) {
  std::lock_guard<std::mutex> g(ringsLock);
  auto it = rings.find(fd);
  if (it == rings.end()) return;
  if (it->second->map) munmap(it->second->map, it->second->mapLen);
  rings.erase(it);
  ringCount.fetch_sub(1, std::memory_order_release);
}

uint32_t PacketRingRead(int fd, uint8_t* buf, uint32_t stride, uint32_t* lens, uint32_t max, int* err) {
  *err = 0;
  Ring* r = Find(fd);
  if (r == nullptr) {
    *err = EBADF;
    return 0;
  }
  uint32_t n = 0;
  // Every slot the kernel has handed over, in ring order, until one it still owns.
  while (n < max) {
    uint8_t* f = r->map + static_cast<size_t>(r->block) * kBlockSize + static_cast<size_t>(r->slot) * r->frameSize;
    struct tpacket2_hdr* h = reinterpret_cast<struct tpacket2_hdr*>(f);
    const uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if ((status & TP_STATUS_USER) == 0) break;
    const uint32_t len = h->tp_snaplen;
    // The kernel takes an 802.1Q/802.1ad tag out of the frame before a packet socket sees it and
    // leaves it in the slot's header (as libpcap reads it: tci != 0 or VLAN_VALID): put back, the
    // datapath sees the frame as a TAP would pass it (and ignores it: ignored_ethertype).
    const bool tagged = (status & TP_STATUS_VLAN_VALID) != 0 || h->tp_vlan_tci != 0;
    const uint32_t out = tagged ? len + 4 : len;
    if (status & TP_STATUS_GSO_TCP) r->gso++;
    if (out <= stride && len == h->tp_len && (!tagged || len >= 2 * ETH_ALEN)) {
      uint8_t* d = buf + static_cast<size_t>(n) * stride;
      const uint8_t* s = f + h->tp_mac;
      if (tagged) {
        const uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) != 0 && h->tp_vlan_tpid != 0 ? h->tp_vlan_tpid : ETH_P_8021Q;
        memcpy(d, s, 2 * ETH_ALEN);
        d[12] = static_cast<uint8_t>(tpid >> 8);
        d[13] = static_cast<uint8_t>(tpid);
        d[14] = static_cast<uint8_t>(h->tp_vlan_tci >> 8);
        d[15] = static_cast<uint8_t>(h->tp_vlan_tci);
        memcpy(d + 16, s + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
      } else {
        memcpy(d, s, len);
      }
      if (status & TP_STATUS_CSUMNOTREADY) {
        r->csumPartial++;
        if (!tagged) CompleteChecksum(d, out);
      }
      lens[n++] = out;
    } else {
      r->truncated++;
    }
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    if (++r->slot == r->framesPerBlock) {
      r->slot = 0;
      if (++r->block == kBlockNr) r->block = 0;
    }
  }
  return n;
}

int PacketRingWrite(int fd, uint8_t* buf, size_t buflen, const uint32_t* offs, uint32_t* lens,
                    uint32_t count, uint32_t* written) {
  Ring* r = Find(fd);
  if (r == nullptr) return EBADF;
  uint32_t i = 0;
  uint32_t at[kTxChunk];  // the frame each message is (its lens[] is zeroed when dropped)
  while (i < count) {
    uint32_t k = 0;
    for (; i < count && k < kTxChunk; i++) {
      uint64_t off = offs[i], len = lens[i];
      if (len == 0 || off + len > buflen) {  // invalid frame: skip, never read out of bounds
        lens[i] = 0;
        continue;
      }
      at[k] = i;
      r->iov[k].iov_base = buf + off;
      r->iov[k].iov_len = len;
      memset(&r->msgs[k].msg_hdr, 0, sizeof r->msgs[k].msg_hdr);
      r->msgs[k].msg_hdr.msg_iov = &r->iov[k];
      r->msgs[k].msg_hdr.msg_iovlen = 1;
      k++;
    }
    uint32_t sent = 0;
    while (sent < k) {
      int rc = sendmmsg(fd, r->msgs + sent, k - sent, MSG_DONTWAIT);
      if (rc > 0) {
        sent += static_cast<uint32_t>(rc);
        *written += static_cast<uint32_t>(rc);
        continue;
      }
      if (rc < 0 && errno == EINTR) continue;
      // No room (EAGAIN/ENOBUFS) or this frame rejected (EMSGSIZE/EINVAL): drop it, go on.
      if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EMSGSIZE || errno == EINVAL || errno == ENETDOWN)) {
        lens[at[sent]] = 0;
        sent++;
        continue;
      }
      return rc < 0 ? errno : EIO;
    }
  }
  return 0;
}

// openPacketRing(ifname) -> { fd, ifindex, mac }: openPacket's socket (bound to ifname, own
// transmissions ignored) with the ring mapped, owned by the fd; close(fd) through the addon unmaps it.
Napi::Value OpenPacketRing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value opened = OpenPacket(info);
  if (env.IsExceptionPending()) return env.Undefined();
  Napi::Object r = opened.As<Napi::Object>();
  int fd = r.Get("fd").As<Napi::Number>().Int32Value();
  int ifindex = r.Get("ifindex").As<Napi::Number>().Int32Value();
  std::string name = info[0].As<Napi::String>();
  void* map = MAP_FAILED;
  size_t mapLen = static_cast<size_t>(kBlockSize) * kBlockNr;
  auto fail = [&](const char* op, int e) {
    if (map != MAP_FAILED) munmap(map, mapLen);
    close(fd);
    return ThrowErrno(env, op, name, e);
  };
  // A slot holds a whole frame of the interface's MTU (at least 2048 bytes).
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) return fail("SIOCGIFMTU", errno);
  const uint32_t mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  if (mtu > kBlockSize - kSlotOverhead) return fail("MTU", EMSGSIZE);
  const uint32_t frameSize = std::max(kMinFrameSize, (mtu + kSlotOverhead + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1));
  // Setting the ring on the bound socket re-hooks it; frames queued before go unread.
  int v = TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) return fail("PACKET_VERSION", errno);
  struct tpacket_req req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = kBlockSize;
  req.tp_block_nr = kBlockNr;
  req.tp_frame_size = frameSize;
  req.tp_frame_nr = (kBlockSize / frameSize) * kBlockNr;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) return fail("PACKET_RX_RING", errno);
  map = mmap(nullptr, mapLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) map = mmap(nullptr, mapLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return fail("mmap", errno);
  // Transmit straight to the driver (no qdisc).
  int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  // uvsd answers for its own MAC, not the interface's: take every frame (undone at close).
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) return fail("PACKET_ADD_MEMBERSHIP", errno);

  std::unique_ptr<Ring> ring(new Ring());
  ring->fd = fd;
  ring->map = static_cast<uint8_t*>(map);
  ring->mapLen = mapLen;
  ring->frameSize = frameSize;
  ring->framesPerBlock = kBlockSize / frameSize;
  std::lock_guard<std::mutex> g(ringsLock);
  rings[fd] = std::move(ring);
  ringCount.fetch_add(1, std::memory_order_release);
  return r;
}

// packetFanout(fds, progFd) -> group id: the ring sockets fds (all bound to one interface) join
// one new fanout group in this order, so that the kernel hands a frame to fds[k] when the group
// picks member k. progFd >= 0: PACKET_FANOUT_EBPF, the socket-filter program (native/steer.cc,
// built for L3) returns k; -1: PACKET_FANOUT_HASH, the kernel's flow hash picks. Frames the
// interface sends are not the group's (PACKET_FANOUT_FLAG_IGNORE_OUTGOING, Linux 6.2): a member
// transmitting would otherwise read its own frames back. Throws naming the refused step.
Napi::Value PacketFanout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) return ThrowType(env, "packetFanout(fds, progFd)");
  Napi::Array fds = info[0].As<Napi::Array>();
  const int progFd = info[1].As<Napi::Number>().Int32Value();
  const uint32_t type = (progFd >= 0 ? PACKET_FANOUT_EBPF : PACKET_FANOUT_HASH) | PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
  uint32_t id = 0;
  for (uint32_t i = 0; i < fds.Length(); i++) {
    const int fd = fds.Get(i).As<Napi::Number>().Int32Value();
    if (!HasPacketRing(fd)) return ThrowType(env, "packetFanout: not a ring socket");
    // The first member asks the kernel for an unused id; the others join it.
    uint32_t arg = i == 0 ? ((type | PACKET_FANOUT_FLAG_UNIQUEID) << 16) : (id | (type << 16));
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) return ThrowErrno(env, "PACKET_FANOUT", "ring socket", errno);
    if (i > 0) continue;
    socklen_t len = sizeof arg;
    if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, &len) < 0) return ThrowErrno(env, "PACKET_FANOUT", "group id", errno);
    id = arg & 0xffff;
    if (progFd >= 0 && setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &progFd, sizeof progFd) < 0)
      return ThrowErrno(env, "PACKET_FANOUT_DATA", "steering program", errno);
  }
  return Napi::Number::New(env, id);
}

// packetRingStats(fd) -> { truncated, ringFull, csumPartial, gso } | null: frames we dropped as too
// long, frames the kernel dropped because the ring was full (PACKET_STATISTICS resets on each read:
// summed here), frames handed over with a partial checksum (completed by PacketRingRead where it
// can) and GRO super-frames (TP_STATUS_GSO_TCP), since the ring was opened.
Napi::Value PacketRingStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "fd must be a number");
  Ring* r = Find(info[0].As<Napi::Number>().Int32Value());
  if (r == nullptr) return env.Null();
  struct tpacket_stats st;
  memset(&st, 0, sizeof st);
  socklen_t sl = sizeof st;
  if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) return ThrowErrno(env, "PACKET_STATISTICS", "", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("truncated", Napi::Number::New(env, static_cast<double>(r->truncated)));
  r->ringFull += st.tp_drops;
  o.Set("ringFull", Napi::Number::New(env, static_cast<double>(r->ringFull)));
  o.Set("csumPartial", Napi::Number::New(env, static_cast<double>(r->csumPartial)));
  o.Set("gso", Napi::Number::New(env, static_cast<double>(r->gso)));
  return o;
}

// packetRingIfindex(fd) -> number | null: the interface the ring socket is bound to now
// (getsockname's sll_ifindex): -1 once that interface was unregistered (deleted, or moved to
// another network namespace), which the kernel never undoes, whatever later takes its name; null
// if fd has no ring.
Napi::Value PacketRingIfindex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "fd must be a number");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (!HasPacketRing(fd)) return env.Null();
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  socklen_t sl = sizeof sll;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&sll), &sl) < 0) return ThrowErrno(env, "getsockname", "ring socket", errno);
  return Napi::Number::New(env, sll.sll_ifindex);
}

}  // namespace uvs
