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
 * Usage: reflector --tap uvs0 --bridge br0 --mac 02:00:00:00:00:01 \
 *                  --vip 192.168.8.200 --rs-mac aa:bb:cc:dd:ee:ff
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
#include <unistd.h>

#define PROG "reflector"
#include "common.h"

static void usage(void) {
  fprintf(stderr, "usage: reflector --tap NAME --bridge BR --mac STATION_MAC --vip IP --rs-mac MAC\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *tap = NULL, *bridge = NULL;
  uint8_t station[6], rsmac[6];
  int have_mac = 0, have_rs = 0;
  struct in_addr vip = {0};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--tap")) tap = argv[i + 1];
    else if (!strcmp(argv[i], "--bridge")) bridge = argv[i + 1];
    else if (!strcmp(argv[i], "--mac")) have_mac = parse_mac(argv[i + 1], station) == 0;
    else if (!strcmp(argv[i], "--rs-mac")) have_rs = parse_mac(argv[i + 1], rsmac) == 0;
    else if (!strcmp(argv[i], "--vip")) { if (inet_pton(AF_INET, argv[i + 1], &vip) != 1) usage(); }
    else usage();
  }
  if (!tap || !have_mac || !have_rs || vip.s_addr == 0) usage();

  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, tap, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");

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

  static uint8_t buf[65536];
  /* Gratuitous ARP (request form) for the VIP from the station MAC. */
  {
    uint8_t *f = buf;
    memset(f, 0xff, 6);
    memcpy(f + 6, station, 6);
    f[12] = 0x08; f[13] = 0x06;
    f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0; f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;
    memcpy(f + 22, station, 6);
    memcpy(f + 28, &vip.s_addr, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, &vip.s_addr, 4);
    memset(f + 42, 0, 18);
    if (write(fd, f, 60) != 60) die("write garp");
  }
  printf("ready %s\n", tap);
  fflush(stdout);

  uint64_t rx = 0, fwd = 0, arp = 0, other = 0, werr = 0;
  const uint8_t *vipb = (const uint8_t *)&vip.s_addr;
  while (!stop) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("read");
    }
    rx++;
    if (n < 42) { other++; continue; }
    uint8_t *f = buf;
    uint16_t et = (uint16_t)(f[12] << 8 | f[13]);
    if (et == 0x0800 && memcmp(f, station, 6) == 0 && memcmp(f + 30, vipb, 4) == 0) {
      memcpy(f, rsmac, 6);
      memcpy(f + 6, station, 6);
      if (write(fd, f, (size_t)n) != n) werr++; else fwd++;
    } else if (et == 0x0806 && f[21] == 1 && memcmp(f + 38, vipb, 4) == 0) {
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
      if (write(fd, f, (size_t)n) != n) werr++; else arp++;
    } else {
      other++;
    }
  }
  printf("{\"rx\":%llu,\"forwarded\":%llu,\"arp\":%llu,\"other\":%llu,\"writeErrors\":%llu}\n",
         (unsigned long long)rx, (unsigned long long)fwd, (unsigned long long)arp,
         (unsigned long long)other, (unsigned long long)werr);
  fflush(stdout);
  return 0;
}
