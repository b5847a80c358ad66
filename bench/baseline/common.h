/* Shared by the benchmark's C programs: stop flag, MAC parsing, fatal errors. */
#ifndef UVS_BENCH_COMMON_H
#define UVS_BENCH_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set by SIGINT/SIGTERM; the main loops check it and print their counts. */
static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static inline int parse_mac(const char *s, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
  return 0;
}

/* PROG names the program in error messages; each .c defines it before including this. */
static void die(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", PROG, what, strerror(errno));
  exit(1);
}

#endif
