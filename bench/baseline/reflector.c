/*
 * reflector: the C baseline for the uvs end-to-end benchmark.
 *
 * A minimal DR "director" on a TAP port: one blocking read() per frame, one
 * write() per frame, no batching. It is the floor uvsd is compared against:
 * same TAP, same bridge, same kernel path, no load-balancer logic.
 *
 *   - opens (or creates) TAP NAME with IFF_TAP|IFF_NO_PI, brings it up and
 *     enslaves it to BRIDGE (SIOCBRADDIF);
 *   - acts as its own station on the wire with STATION_MAC, which is NOT the
 *     TAP interface's MAC (a bridge treats its ports' own MACs as local, so
 *     frames to the TAP MAC would never reach us; see DESIGN.md);
 *   - sends one gratuitous ARP for the VIP at start, so the bridge learns
 *     STATION_MAC on the TAP port, and answers ARP requests for the VIP;
 *   - for every IPv4 frame to STATION_MAC whose destination is the VIP:
 *     dst MAC := RS_MAC, src MAC := STATION_MAC, write it back (DR mode);
 *   - on SIGTERM/SIGINT prints its counters as one JSON line and exits.
 *
 * With --io uring it is instead a reference for the kernel interface uvsd uses: the same work,
 * but each batch of up to 64 reads, and each batch of writes, is one io_uring_enter() (uring.h),
 * reads with RWF_NOWAIT, poll() when the TAP is empty. Not the target baseline: the issue's
 * target compares uvsd with the one-frame-per-syscall program above.
 *
 * With --vnet 1 the TAP is opened as uvsd opens it by default (--offload on): IFF_VNET_HDR, a
 * 10-byte virtio_net_hdr in front of every frame read and written (passed back unchanged, as
 * uvsd does for a forwarded frame), and the same TUNSETOFFLOAD flags. It measures what the
 * header costs the kernel's TAP path, apart from uvsd's own work (docs/performance.md).
 *
 * Usage: reflector --tap uvs0 --bridge br0 --mac 02:00:00:00:00:01 \
 *                  --vip 192.168.8.200 --rs-mac aa:bb:cc:dd:ee:ff [--io uring] [--vnet 1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#define PROG "reflector"
#include "common.h"
#include "uring.h"

static uint8_t station[6], rsmac[6], vipb[4];
static uint64_t rx, fwd, arp, other, werr;
/* Bytes of virtio_net_hdr in front of each frame (--vnet 1: 10, else 0). */
static unsigned vh;

/* Rewrites frame f (n bytes) in place; returns 1 if it is to be written back. */
static int handle(uint8_t *f, ssize_t n) {
  rx++;
  f += vh;
  n -= vh;
  if (n < 42) { other++; return 0; }
  uint16_t et = (uint16_t)(f[12] << 8 | f[13]);
  if (et == 0x0800 && memcmp(f, station, 6) == 0 && memcmp(f + 30, vipb, 4) == 0) {
    memcpy(f, rsmac, 6);
    memcpy(f + 6, station, 6);
    fwd++;
    return 1;
  }
  if (et == 0x0806 && f[21] == 1 && memcmp(f + 38, vipb, 4) == 0) {
    /* ARP request for the VIP: answer in place. */
    uint8_t smac[6], sip[4];
    memcpy(smac, f + 22, 6);
    memcpy(sip, f + 28, 4);
    memcpy(f, smac, 6);
    memcpy(f + 6, station, 6);
    f[21] = 2;
    memcpy(f + 22, station, 6);
    memcpy(f + 28, vipb, 4);
    memcpy(f + 32, smac, 6);
    memcpy(f + 38, sip, 4);
    arp++;
    return 1;
  }
  other++;
  return 0;
}

/* The baseline: one blocking read() and one write() per frame. */
static void run_syscalls(int fd) {
  static uint8_t buf[65536];
  while (!stop) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("read");
    }
    if (handle(buf, n) && write(fd, buf, (size_t)n) != n) werr++;
  }
}

#define BATCH 64
#define STRIDE 2048

/* Reference: batches of reads, then of writes, one io_uring_enter() each. */
static void run_uring(int fd) {
  struct uring r;
  if (uring_init(&r, fd) < 0) die("io_uring");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("O_NONBLOCK");
  static uint8_t bufs[BATCH][STRIDE];
  int32_t res[BATCH];
  unsigned out[BATCH];
  while (!stop) {
    for (unsigned i = 0; i < BATCH; i++) uring_prep(&r, IORING_OP_READ, bufs[i], STRIDE, i);
    if (uring_run(&r, BATCH, res) < 0) die("io_uring_enter");
    unsigned no = 0, got = 0;
    for (unsigned i = 0; i < BATCH; i++) {
      if (res[i] <= 0) continue;
      got++;
      if (handle(bufs[i], res[i])) out[no++] = i;
    }
    for (unsigned k = 0; k < no; k++) uring_prep(&r, IORING_OP_WRITE, bufs[out[k]], (unsigned)res[out[k]], k);
    if (no && uring_run(&r, no, res) < 0) die("io_uring_enter");
    for (unsigned k = 0; k < no; k++) if (res[k] < 0) werr++;
    if (got == 0) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, 100);
    }
  }
}

static void usage(void) {
  fprintf(stderr, "usage: reflector --tap NAME --bridge BR --mac STATION_MAC --vip IP --rs-mac MAC [--io uring|syscalls] [--vnet 0|1]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *tap = NULL, *bridge = NULL;
  int have_mac = 0, have_rs = 0, uring = 0;
  struct in_addr vip = {0};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--tap")) tap = argv[i + 1];
    else if (!strcmp(argv[i], "--bridge")) bridge = argv[i + 1];
    else if (!strcmp(argv[i], "--mac")) have_mac = parse_mac(argv[i + 1], station) == 0;
    else if (!strcmp(argv[i], "--rs-mac")) have_rs = parse_mac(argv[i + 1], rsmac) == 0;
    else if (!strcmp(argv[i], "--vip")) { if (inet_pton(AF_INET, argv[i + 1], &vip) != 1) usage(); }
    else if (!strcmp(argv[i], "--vnet")) { if (!strcmp(argv[i + 1], "1")) vh = 10; else if (strcmp(argv[i + 1], "0")) usage(); }
    else if (!strcmp(argv[i], "--io")) { if (!strcmp(argv[i + 1], "uring")) uring = 1; else if (strcmp(argv[i + 1], "syscalls")) usage(); }
    else usage();
  }
  if (!tap || !have_mac || !have_rs || vip.s_addr == 0) usage();
  memcpy(vipb, &vip.s_addr, 4);

  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vh ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (vh) {
    int sz = (int)vh;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) die("TUNSETVNETHDRSZ");
    /* The flags uvsd sets (native/iface.cc kOffloads). */
    if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0) die("TUNSETOFFLOAD");
  }

  int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  if (ctl < 0) die("socket");
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(ctl, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(ctl, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
  if (bridge) {
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
    if (ioctl(ctl, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX");
    int idx = ifr.ifr_ifindex;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, bridge, IFNAMSIZ - 1);
    ifr.ifr_ifindex = idx;
    if (ioctl(ctl, SIOCBRADDIF, &ifr) < 0 && errno != EBUSY) die("SIOCBRADDIF");
  }
  close(ctl);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocking read() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  /* Gratuitous ARP (request form) for the VIP from the station MAC (after a zero vnet header). */
  {
    uint8_t g[70] = {0}, *f = g + vh;
    memset(f, 0xff, 6);
    memcpy(f + 6, station, 6);
    f[12] = 0x08; f[13] = 0x06;
    f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
    memcpy(f + 22, station, 6);
    memcpy(f + 28, &vip.s_addr, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, &vip.s_addr, 4);
    memset(f + 42, 0, 18);
    if (write(fd, g, 60 + vh) != (ssize_t)(60 + vh)) die("write garp");
  }
  printf("ready %s\n", tap);
  fflush(stdout);

  if (uring) run_uring(fd); else run_syscalls(fd);
  printf("{\"rx\":%llu,\"forwarded\":%llu,\"arp\":%llu,\"other\":%llu,\"writeErrors\":%llu}\n",
         (unsigned long long)rx, (unsigned long long)fwd, (unsigned long long)arp,
         (unsigned long long)other, (unsigned long long)werr);
  fflush(stdout);
  return 0;
}
