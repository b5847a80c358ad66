/*
 * gen: the traffic generator for the uvs end-to-end benchmark.
 *
 * Sends 60-byte Ethernet frames (64 on the wire with the FCS): Ethernet +
 * IPv4 (valid header checksum) + UDP (checksum 0 = none, legal for IPv4) +
 * 18 bytes of payload, to DST_IP:DPORT with dst MAC = the director's station
 * MAC, through an AF_PACKET socket on one interface, in sendmmsg() batches,
 * as fast as the kernel takes them, for a fixed number of seconds.
 *
 *   --flows N   N steady flows: source SRC_IP, source ports SPORT..SPORT+N-1
 *               in turn
 *   --new       a new flow per packet (nearly): pseudo-random source address
 *               in SRC_NET/24 (.1-.254) and pseudo-random source port 1024-65535
 *   --pps R     paced: at most R frames per second (each batch waits for its
 *               time slot; use a small --batch for an even load), 0 = flat out
 *
 * The source addresses are only header values: DR real servers reply to them
 * directly, and inside the lab they have no route there, so nothing leaves it.
 *
 * Prints one JSON line: {"sent":..,"errors":..,"seconds":..,"pps":..}
 *
 * Usage: gen --if cl0 --dst-mac 02:00:00:00:00:01 --dst 192.168.8.200 --dport 9
 *            --src 192.168.9.1 (--flows 64 | --new) --seconds 15 [--batch 256]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 60
#define MAX_BATCH 1024

#define PROG "gen"
#include "common.h"

static void usage(void) {
  fprintf(stderr,
          "usage: gen --if IF --dst-mac MAC --dst IP --dport P --src IP (--flows N | --new) --seconds S [--batch B] [--sport P] [--pps R]\n");
  exit(2);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* IPv4 header checksum over 20 bytes. */
static uint16_t ip_csum(const uint8_t *h) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += (uint32_t)(h[i] << 8 | h[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline uint64_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  const char *ifname = NULL;
  uint8_t dmac[6];
  int have_dmac = 0, newflows = 0;
  unsigned flows = 64, batch = 256, sport = 10000, dport = 9;
  double seconds = 10, pps = 0;
  struct in_addr dst = {0}, src = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--new")) { newflows = 1; continue; }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--if")) ifname = v;
    else if (!strcmp(a, "--dst-mac")) have_dmac = parse_mac(v, dmac) == 0;
    else if (!strcmp(a, "--dst")) { if (inet_pton(AF_INET, v, &dst) != 1) usage(); }
    else if (!strcmp(a, "--src")) { if (inet_pton(AF_INET, v, &src) != 1) usage(); }
    else if (!strcmp(a, "--dport")) dport = (unsigned)atoi(v);
    else if (!strcmp(a, "--sport")) sport = (unsigned)atoi(v);
    else if (!strcmp(a, "--flows")) flows = (unsigned)atoi(v);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else if (!strcmp(a, "--batch")) batch = (unsigned)atoi(v);
    else if (!strcmp(a, "--pps")) pps = atof(v);
    else usage();
  }
  if (!ifname || !have_dmac || dst.s_addr == 0 || src.s_addr == 0 || flows == 0 || flows > 65535 ||
      batch == 0 || batch > MAX_BATCH || seconds <= 0 || pps < 0)
    usage();

  int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: transmit only, receive nothing */
  if (fd < 0) die("socket(AF_PACKET)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) die("SIOCGIFINDEX");
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) die("SIOCGIFHWADDR");
  uint8_t smac[6];
  memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = 0;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind");
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one); /* best effort */

  static uint8_t frames[MAX_BATCH][FRAME_LEN];
  static struct iovec iov[MAX_BATCH];
  static struct mmsghdr msgs[MAX_BATCH];
  for (unsigned i = 0; i < batch; i++) {
    uint8_t *f = frames[i];
    memset(f, 0, FRAME_LEN);
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[2] = 0; ip[3] = 46;          /* total length: 20 + 8 + 18 */
    ip[6] = 0x40;                   /* DF */
    ip[8] = 64;                     /* TTL */
    ip[9] = 17;                     /* UDP */
    memcpy(ip + 12, &src.s_addr, 4);
    memcpy(ip + 16, &dst.s_addr, 4);
    uint8_t *udp = ip + 20;
    udp[2] = (uint8_t)(dport >> 8); udp[3] = (uint8_t)dport;
    udp[4] = 0; udp[5] = 26;        /* UDP length: 8 + 18 */
    memcpy(udp + 8, "uvs-bench-payload!", 18);
    iov[i].iov_base = f;
    iov[i].iov_len = FRAME_LEN;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  const uint32_t srcnet = ntohl(src.s_addr) & 0xffffff00u;
  uint64_t sent = 0, errors = 0, ipid = 0;
  unsigned flow = 0;
  double t0 = now(), t = t0, deadline = t0 + seconds;
  while (!stop && t < deadline) {
    if (pps > 0) {
      /* Paced: this batch may go once the frames already sent are due. */
      double due = t0 + (double)sent / pps;
      if (due > t) {
        /* Sleep, never spin: a probe sharing this core (the latency row) must not wait for
         * the generator's time slice. A late wake-up is caught up by the next batches. */
        double d = due - t;
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
        t = now();
        continue;
      }
    }
    for (unsigned i = 0; i < batch; i++) {
      uint8_t *ip = frames[i] + 14;
      uint8_t *udp = ip + 20;
      uint16_t sp;
      ipid++;
      ip[4] = (uint8_t)(ipid >> 8); ip[5] = (uint8_t)ipid;
      if (newflows) {
        uint64_t r = xorshift();
        uint32_t a = srcnet | (uint32_t)(1 + (r & 0xffff) % 254);
        sp = (uint16_t)(1024 + ((r >> 16) & 0xffffffff) % 64512);
        ip[12] = (uint8_t)(a >> 24); ip[13] = (uint8_t)(a >> 16); ip[14] = (uint8_t)(a >> 8); ip[15] = (uint8_t)a;
      } else {
        sp = (uint16_t)(sport + flow);
        if (++flow == flows) flow = 0;
      }
      udp[0] = (uint8_t)(sp >> 8); udp[1] = (uint8_t)sp;
      ip[10] = 0; ip[11] = 0;
      uint16_t c = ip_csum(ip);
      ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
    }
    int n = sendmmsg(fd, msgs, batch, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      errors++;
      if (errno != ENOBUFS && errno != EAGAIN) die("sendmmsg");
    } else {
      sent += (uint64_t)n;
      if ((unsigned)n < batch) errors++;
    }
    t = now();
  }
  double el = t - t0;
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"pps\":%.0f}\n", (unsigned long long)sent,
         (unsigned long long)errors, el, el > 0 ? (double)sent / el : 0.0);
  fflush(stdout);
  return 0;
}
