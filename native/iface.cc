// Opening ports: TAP/TUN devices and AF_PACKET sockets, plus interface lookups.
// Everything here runs once per port, so clarity beats speed.
#include "common.h"

#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

namespace uvs {

namespace {

// Closes an fd on scope exit unless released; keeps the error paths short.
struct FdGuard {
  int fd;
  explicit FdGuard(int f) : fd(f) {}
  ~FdGuard() { if (fd >= 0) close(fd); }
  int release() { int f = fd; fd = -1; return f; }
};

bool NameOk(const std::string& name) { return name.size() < IFNAMSIZ && name.find('/') == std::string::npos; }

void SetName(struct ifreq* ifr, const std::string& name) {
  memset(ifr, 0, sizeof(*ifr));
  memcpy(ifr->ifr_name, name.data(), name.size());  // length checked by NameOk
}

// ioctl(SIOCGIFHWADDR) as "aa:bb:cc:dd:ee:ff"; "" when the device has no Ethernet address (TUN).
int GetMac(int ctl, const std::string& name, std::string* out) {
  struct ifreq ifr;
  SetName(&ifr, name);
  if (ioctl(ctl, SIOCGIFHWADDR, &ifr) < 0) return errno;
  out->clear();
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) return 0;
  const unsigned char* m = reinterpret_cast<const unsigned char*>(ifr.ifr_hwaddr.sa_data);
  char s[18];
  snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  *out = s;
  return 0;
}

int CtlSocket() { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

// True if `name` is already a port of `bridge` (SIOCBRADDIF says EBUSY for any existing master).
bool IsPortOf(const std::string& name, const std::string& bridge) {
  std::string link = "/sys/class/net/" + name + "/master";
  char target[PATH_MAX];
  ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = 0;
  const char* base = strrchr(target, '/');
  return bridge == (base ? base + 1 : target);
}

// SIOCBRADDIF: make `name` a port of `bridge`; 0 or an errno. Already its port is fine.
int AddToBridge(int ctl, const std::string& name, int ifindex, const std::string& bridge) {
  struct ifreq ifr;
  SetName(&ifr, bridge);
  ifr.ifr_ifindex = ifindex;
  if (ioctl(ctl, SIOCBRADDIF, &ifr) == 0) return 0;
  int err = errno;
  return err == EBUSY && IsPortOf(name, bridge) ? 0 : err;  // EBUSY: it has a master already
}

// The kernel's IPv6 off on a device (net.ipv6.conf.NAME.disable_ipv6 = 1). Best effort: without
// IPv6 in the kernel there is no such file; another failure shows as the setting left at 0,
// which uvsd reads and warns about.
void DisableIpv6(const std::string& name) {
  std::string path = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!write(fd, "1", 1);
  close(fd);
}

}  // namespace

// Offloads asked for with { offload: true }: the kernel may then hand us frames whose TCP/UDP
// checksum is only partial (VIRTIO_NET_HDR_F_NEEDS_CSUM) and TCP segments up to 64 KB (GSO),
// each described by the virtio_net_hdr in front of the frame; it accepts the same from us.
// No TUN_F_UFO/USO: uvs would have to rewrite or segment UDP super-packets itself.
constexpr unsigned kOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
// sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
// (<linux/virtio_net.h> itself does not compile as C++).
constexpr int kVnetHdrLen = 10;

// openTap(name, { tun?, mtu?, bridge?, offload?, multiQueue? }) -> { fd, name, ifindex, created, mac, vnetHdr, offload, offloadError }
// vnetHdr: bytes of virtio_net_hdr before every frame read or written (0 or 10); offload: the
// TUN_F_* flags in force; offloadError: why the kernel refused them ("" when it did not).
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "openTap: name must be a string");
  std::string name = info[0].As<Napi::String>();
  if (!NameOk(name)) return ThrowType(env, "openTap: bad interface name");
  bool tun = false;
  bool offload = false;
  bool multiQueue = false;
  int64_t mtu = -1;
  int64_t qlen = 0;  // 0: the device's own txqueuelen
  std::string bridge;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    Napi::Value v = o.Get("tun");
    if (!v.IsUndefined()) tun = v.ToBoolean();
    v = o.Get("mtu");
    if (!v.IsUndefined()) {
      if (!v.IsNumber()) return ThrowType(env, "openTap: mtu must be a number");
      mtu = v.As<Napi::Number>().Int64Value();
      if (mtu < 68 || mtu > 65535) return ThrowRange(env, "openTap: mtu out of range");
    }
    v = o.Get("qlen");
    if (!v.IsUndefined()) {
      if (!v.IsNumber()) return ThrowType(env, "openTap: qlen must be a number");
      qlen = v.As<Napi::Number>().Int64Value();
      if (qlen < 0 || qlen > 65536) return ThrowRange(env, "openTap: qlen out of range");
    }
    v = o.Get("offload");
    if (!v.IsUndefined()) offload = v.ToBoolean();
    v = o.Get("multiQueue");
    if (!v.IsUndefined()) multiQueue = v.ToBoolean();
    v = o.Get("bridge");
    if (!v.IsUndefined()) {
      if (!v.IsString()) return ThrowType(env, "openTap: bridge must be a string");
      bridge = v.As<Napi::String>();
      if (!NameOk(bridge)) return ThrowType(env, "openTap: bad bridge name");
    }
  }

  // Checked before TUNSETIFF, which creates the device when it is missing.
  bool created = name.empty() || if_nametoindex(name.c_str()) == 0;

  // O_NONBLOCK: rx/tx loops stop at EAGAIN instead of blocking the event loop.
  FdGuard fd(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.fd < 0) return ThrowErrno(env, "open", "/dev/net/tun", errno);
  struct ifreq ifr;
  SetName(&ifr, name);
  // IFF_NO_PI: frames start at the Ethernet (or IP) header. No TUNSETPERSIST, so closing the
  // fd removes a device we created.
  // IFF_VNET_HDR (offload): every frame comes and goes with a struct virtio_net_hdr in front.
  // IFF_MULTI_QUEUE (uvsd --workers): each open of the same name adds one queue (one fd); the
  // kernel spreads received flows over the queues (docs/architecture.md, "Workers").
  int vnetHdr = offload ? kVnetHdrLen : 0;
  ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0);
  if (ioctl(fd.fd, TUNSETIFF, &ifr) < 0) return ThrowErrno(env, "TUNSETIFF", name, errno);
  name = ifr.ifr_name;  // the kernel's choice when name was "" or a pattern like "uvs%d"
  unsigned offloads = 0;
  std::string offloadError;
  if (vnetHdr) {
    // The header size is per device and may have been changed by an earlier user: set ours.
    if (ioctl(fd.fd, TUNSETVNETHDRSZ, &vnetHdr) < 0) return ThrowErrno(env, "TUNSETVNETHDRSZ", name, errno);
    // Refused (an old kernel, a restricted device): the header stays, always zero (no partial
    // checksums, no GSO), which is the old behaviour with 10 more bytes per frame.
    if (ioctl(fd.fd, TUNSETOFFLOAD, kOffloads) == 0) offloads = kOffloads;
    else offloadError = ErrnoError(env, "TUNSETOFFLOAD", name, errno).Message();
  }

  FdGuard ctl(CtlSocket());
  if (ctl.fd < 0) return ThrowErrno(env, "socket", "", errno);
  SetName(&ifr, name);
  if (ioctl(ctl.fd, SIOCGIFINDEX, &ifr) < 0) return ThrowErrno(env, "SIOCGIFINDEX", name, errno);
  int ifindex = ifr.ifr_ifindex;

  if (mtu > 0) {
    SetName(&ifr, name);
    ifr.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(ctl.fd, SIOCSIFMTU, &ifr) < 0) return ThrowErrno(env, "SIOCSIFMTU", name, errno);
  }
  // txqueuelen is the length of each queue's ring of frames the kernel holds for the reader
  // (tun's tx_ring; 1000 on a new TAP): frames that arrive while it is full are dropped
  // (the interface's TX dropped), so it is what uvsd can be late by without losing frames.
  if (qlen > 0) {
    SetName(&ifr, name);
    ifr.ifr_qlen = static_cast<int>(qlen);
    if (ioctl(ctl.fd, SIOCSIFTXQLEN, &ifr) < 0) return ThrowErrno(env, "SIOCSIFTXQLEN", name, errno);
  }
  SetName(&ifr, name);
  if (ioctl(ctl.fd, SIOCGIFTXQLEN, &ifr) < 0) return ThrowErrno(env, "SIOCGIFTXQLEN", name, errno);
  int txqlen = ifr.ifr_qlen;
  // uvsd is a station on the TAP's wire that answers no ND: the kernel's IPv6 on a TAP it creates
  // would give it a link-local address and send MLD reports, DAD and router solicitations into
  // uvsd's fd. Off before the device is up, so not one is sent. One it did not create is left as it is.
  if (created && !tun) DisableIpv6(name);
  SetName(&ifr, name);
  if (ioctl(ctl.fd, SIOCGIFFLAGS, &ifr) < 0) return ThrowErrno(env, "SIOCGIFFLAGS", name, errno);
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(ctl.fd, SIOCSIFFLAGS, &ifr) < 0) return ThrowErrno(env, "SIOCSIFFLAGS", name, errno);
  }
  if (!bridge.empty()) {
    int err = AddToBridge(ctl.fd, name, ifindex, bridge);
    if (err) return ThrowErrno(env, "SIOCBRADDIF", bridge + " " + name, err);
  }
  std::string mac;
  int err = GetMac(ctl.fd, name, &mac);
  if (err) return ThrowErrno(env, "SIOCGIFHWADDR", name, err);

  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", Napi::Number::New(env, fd.release()));
  r.Set("name", Napi::String::New(env, name));
  r.Set("ifindex", Napi::Number::New(env, ifindex));
  r.Set("created", Napi::Boolean::New(env, created));
  r.Set("mac", Napi::String::New(env, mac));
  r.Set("vnetHdr", Napi::Number::New(env, vnetHdr));
  r.Set("offload", Napi::Number::New(env, offloads));
  r.Set("offloadError", Napi::String::New(env, offloadError));
  r.Set("qlen", Napi::Number::New(env, txqlen));
  return r;
}

// openPacket(ifname) -> { fd, ifindex, mac }: raw Ethernet frames of one interface.
Napi::Value OpenPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "openPacket: ifname must be a string");
  std::string name = info[0].As<Napi::String>();
  if (!NameOk(name) || name.empty()) return ThrowType(env, "openPacket: bad interface name");
  unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return ThrowErrno(env, "if_nametoindex", name, errno);

  // Protocol 0 at socket() so nothing is queued from other interfaces before bind() narrows it.
  FdGuard fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) return ThrowErrno(env, "socket", "AF_PACKET", errno);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd.fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0)
    return ThrowErrno(env, "bind", name, errno);
  // Do not read back our own transmissions; older kernels lack it, which only costs noise.
  int one = 1;
  (void)setsockopt(fd.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  // A fast TCP stream outruns the default receive buffer (about 208 KB) while the reader's event
  // loop turns (uvs-decap lost a tenth of a 3 MB upload's segments): 8 MB, past rmem_max as root
  // (SO_RCVBUFFORCE), else as much as rmem_max allows.
  int rcv = 8 << 20;
  if (setsockopt(fd.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
    (void)setsockopt(fd.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);

  FdGuard ctl(CtlSocket());
  if (ctl.fd < 0) return ThrowErrno(env, "socket", "", errno);
  std::string mac;
  int err = GetMac(ctl.fd, name, &mac);
  if (err) return ThrowErrno(env, "SIOCGIFHWADDR", name, err);

  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", Napi::Number::New(env, fd.release()));
  r.Set("ifindex", Napi::Number::New(env, ifindex));
  r.Set("mac", Napi::String::New(env, mac));
  return r;
}

// packetDrops(fd) -> frames the kernel dropped on the packet socket's full receive buffer since the
// last call (PACKET_STATISTICS resets on each read).
Napi::Value PacketDrops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "packetDrops: fd must be a number");
  struct tpacket_stats st;
  memset(&st, 0, sizeof st);
  socklen_t sl = sizeof st;
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0)
    return ThrowErrno(env, "PACKET_STATISTICS", "", errno);
  return Napi::Number::New(env, st.tp_drops);
}

// ifaceInfo(name) -> { ifindex, mac, mtu, ipv4 } | null (no such interface: ENODEV); throws on any
// other failure. Not if_nametoindex: glibc's opens a socket of its own, returns 0 when it cannot
// (out of file descriptors) and leaves errno ENOENT, which must not read as "the interface is gone".
Napi::Value IfaceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowType(env, "ifaceInfo: name must be a string");
  std::string name = info[0].As<Napi::String>();
  if (!NameOk(name) || name.empty()) return env.Null();
  FdGuard ctl(CtlSocket());
  if (ctl.fd < 0) return ThrowErrno(env, "socket", "", errno);
  struct ifreq ifr;
  SetName(&ifr, name);
  if (ioctl(ctl.fd, SIOCGIFINDEX, &ifr) < 0) {
    if (errno == ENODEV) return env.Null();
    return ThrowErrno(env, "SIOCGIFINDEX", name, errno);
  }
  int ifindex = ifr.ifr_ifindex;
  SetName(&ifr, name);
  if (ioctl(ctl.fd, SIOCGIFMTU, &ifr) < 0) {
    if (errno == ENODEV) return env.Null();  // vanished since SIOCGIFINDEX
    return ThrowErrno(env, "SIOCGIFMTU", name, errno);
  }
  int mtu = ifr.ifr_mtu;
  std::string mac;
  int err = GetMac(ctl.fd, name, &mac);
  if (err == ENODEV) return env.Null();
  if (err) return ThrowErrno(env, "SIOCGIFHWADDR", name, err);
  // Its (primary) IPv4 address, whatever its carrier: getifaddrs() readers (libuv's, so Node's
  // os.networkInterfaces()) leave out an interface that is not RUNNING. "" when it has none.
  std::string ipv4;
  SetName(&ifr, name);
  ifr.ifr_addr.sa_family = AF_INET;
  if (ioctl(ctl.fd, SIOCGIFADDR, &ifr) == 0) {
    char text[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(&ifr.ifr_addr)->sin_addr, text, sizeof text) != nullptr) ipv4 = text;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("ifindex", Napi::Number::New(env, ifindex));
  r.Set("mac", Napi::String::New(env, mac));
  r.Set("mtu", Napi::Number::New(env, mtu));
  r.Set("ipv4", Napi::String::New(env, ipv4));
  return r;
}

// bridgeAddIf(name, bridge): put an existing interface back on a bridge (uvsd's link watch, after
// the bridge was deleted and created again); throws naming the refused step.
Napi::Value BridgeAddIf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) return ThrowType(env, "bridgeAddIf: name and bridge must be strings");
  std::string name = info[0].As<Napi::String>();
  std::string bridge = info[1].As<Napi::String>();
  if (!NameOk(name) || name.empty() || !NameOk(bridge) || bridge.empty()) return ThrowType(env, "bridgeAddIf: bad interface name");
  unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return ThrowErrno(env, "if_nametoindex", name, errno);
  FdGuard ctl(CtlSocket());
  if (ctl.fd < 0) return ThrowErrno(env, "socket", "", errno);
  int err = AddToBridge(ctl.fd, name, static_cast<int>(ifindex), bridge);
  if (err) return ThrowErrno(env, "SIOCBRADDIF", bridge + " " + name, err);
  return env.Undefined();
}

// openProtoSink(protocol) -> fd: a raw IPv4 socket for one IP protocol (4 IPIP, 47 GRE) whose
// socket filter drops everything (SO_ATTACH_FILTER, one instruction: ret #0). uvs-decap takes the
// tunnelled packets through its packet socket; without a protocol handler (no ipip / ip_gre
// module) the kernel would also answer each with ICMP protocol unreachable (InUnknownProtos,
// ip_local_deliver_finish), which a director reads as "this server does not decapsulate".
// raw_v4_input counts a packet delivered once a raw socket of its protocol matches, before that
// socket's filter runs, so the kernel stays quiet; the filter keeps the socket's queue empty.
// Needs CAP_NET_RAW. Close with close(fd).
Napi::Value OpenProtoSink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "openProtoSink(protocol: number)");
  double p = info[0].As<Napi::Number>().DoubleValue();
  if (!(p >= 1 && p <= 254) || p != static_cast<int>(p)) {
    char msg[80];
    snprintf(msg, sizeof msg, "openProtoSink: protocol %g is not 1..254", p);
    return ThrowRange(env, msg);
  }
  int proto = static_cast<int>(p);
  std::string what = "protocol " + std::to_string(proto);
  FdGuard fd(socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto));
  if (fd.fd < 0) return ThrowErrno(env, "socket", "AF_INET raw " + what, errno);
  struct sock_filter drop[1] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  struct sock_fprog prog = {1, drop};
  if (setsockopt(fd.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
    return ThrowErrno(env, "SO_ATTACH_FILTER", what, errno);
  // What arrived between socket() and the filter: read it away, so nothing stays queued.
  char byte;
  while (recv(fd.fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
  }
  return Napi::Number::New(env, fd.release());
}

}  // namespace uvs
