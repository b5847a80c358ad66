/*
 * ping: a paced UDP ping-pong for the benchmark's latency row.
 *
 *   ping --server PORT
 *       echo every datagram back to its sender (one recvfrom/sendto each)
 *   ping --dst IP --port P --rate R --seconds S [--warmup W] [--slow-us U]
 *       send a 32-byte datagram carrying its sequence number and CLOCK_MONOTONIC send time
 *       every 1/R s from one unconnected socket, take every echo that comes back (from any
 *       source: a DR real server answers from its own stack), and record the round trip
 *       (receive time - the time in the datagram). Replies later than 1 s count as lost.
 *       With --warmup W, the first W seconds of datagrams are sent the same way but neither
 *       counted nor recorded: the path has seen the probe's flow before the measurement starts
 *       (a forwarder's first packet of a new flow is not what the row measures).
 *
 * Prints one JSON line: {"sent":..,"received":..,"p50":..,"p90":..,"p99":..,"max":..} with the
 * round trips in microseconds. With --slow-us U, every counted round trip of U µs or more is also
 * printed to stderr, in send order, as "slow SEND_US RTT_US" (SEND_US: its send time from the
 * window's start): when the slow ones happen (episodes or spread out) says what they are.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "ping"
#include "common.h"

#define MAX_SAMPLES (1 << 22)
#define MAX_SLOW (1 << 16)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr, "usage: ping --server PORT | ping --dst IP --port P --rate R --seconds S [--warmup W] [--slow-us U]\n");
  exit(2);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int serve(unsigned port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  printf("ready\n");
  fflush(stdout);
  uint8_t buf[2048];
  while (!stop) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvfrom");
    }
    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
  }
  return 0;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct in_addr dst = {0};
  unsigned port = 0, server = 0;
  double rate = 1000, seconds = 5, warmup = 0, slow_us = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--server")) server = (unsigned)atoi(v);
    else if (!strcmp(a, "--dst")) { if (inet_pton(AF_INET, v, &dst) != 1) usage(); }
    else if (!strcmp(a, "--port")) port = (unsigned)atoi(v);
    else if (!strcmp(a, "--rate")) rate = atof(v);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else if (!strcmp(a, "--warmup")) warmup = atof(v);
    else if (!strcmp(a, "--slow-us")) slow_us = atof(v);
    else usage();
  }
  if (server) return serve(server);
  if (!port || !dst.s_addr || rate <= 0 || rate > 1e6 || seconds <= 0 || warmup < 0 || slow_us < 0) usage();

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = dst};
  static uint32_t rtt[MAX_SAMPLES];
  static uint32_t slow_at[MAX_SLOW], slow_rtt[MAX_SLOW];
  uint64_t sent = 0, received = 0, slow = 0;
  const uint32_t slow_units = (uint32_t)(slow_us * 10);
  const uint64_t gap = (uint64_t)(1e9 / rate), t0 = now_ns(), from = t0 + (uint64_t)(warmup * 1e9), end = from + (uint64_t)(seconds * 1e9);
  uint64_t next = t0;
  for (;;) {
    uint64_t t = now_ns();
    if (t >= end + 1000000000ull || stop) break; /* one more second for the last replies */
    if (t >= next && t < end) {
      uint64_t msg[4] = {sent, t, 0, 0};
      if (sendto(fd, msg, sizeof msg, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)sizeof msg && t >= from) sent++;
      next += gap;
      if (next < t) next = t + gap; /* fell behind: do not burst to catch up */
      continue;
    }
    uint64_t wait_ns = t < end ? (next > t ? next - t : 0) : end + 1000000000ull - t;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    /* Sleep until the next send or a reply, never spin: the probe shares its CPU with the load
     * generator, and a spinning probe would take that CPU from it (and, under SCHED_FIFO, all of
     * it). ppoll's timeout is a high-resolution timer. */
    struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ull), .tv_nsec = (long)(wait_ns % 1000000000ull)};
    if (ppoll(&p, 1, &ts, NULL) <= 0) continue;
    uint64_t msg[4];
    ssize_t n;
    while ((n = recv(fd, msg, sizeof msg, MSG_DONTWAIT)) == (ssize_t)sizeof msg) {
      uint64_t r = now_ns() - msg[1];
      if (msg[1] < from || r >= 1000000000ull || received >= MAX_SAMPLES) continue;
      rtt[received++] = (uint32_t)(r / 100); /* 0.1 µs units */
      if (slow_units && r / 100 >= slow_units && slow < MAX_SLOW) {
        slow_at[slow] = (uint32_t)((msg[1] - from) / 1000);
        slow_rtt[slow++] = (uint32_t)(r / 1000);
      }
    }
  }
  for (uint64_t i = 0; i < slow; i++) fprintf(stderr, "slow %u %u\n", slow_at[i], slow_rtt[i]);
  qsort(rtt, received, sizeof rtt[0], cmp_u32);
#define PCT(p) (received ? rtt[(size_t)((p) / 100.0 * (double)(received - 1))] / 10.0 : 0.0)
  printf("{\"sent\":%llu,\"received\":%llu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}\n", (unsigned long long)sent,
         (unsigned long long)received, PCT(50), PCT(90), PCT(99), received ? rtt[received - 1] / 10.0 : 0.0);
  fflush(stdout);
  return 0;
}
