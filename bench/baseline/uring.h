/* A minimal io_uring for the reflector's --io uring mode (raw system calls, no liburing):
 * one ring for one fd, registered as fixed file 0; operations carry RWF_NOWAIT so a read of an
 * empty TAP completes at once with -EAGAIN and uring_run() never waits for traffic. */
#ifndef UVS_BENCH_URING_H
#define UVS_BENCH_URING_H

#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

struct uring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, tail;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
};

static void *uring_map(int fd, size_t len, off_t off) {
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);
  return m == MAP_FAILED ? NULL : m;
}

static int uring_init(struct uring *r, int file) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  r->fd = (int)syscall(__NR_io_uring_setup, 256, &p);
  if (r->fd < 0) return -1;
  size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) sqlen = cqlen = sqlen > cqlen ? sqlen : cqlen;
  uint8_t *sq = uring_map(r->fd, sqlen, IORING_OFF_SQ_RING);
  uint8_t *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : uring_map(r->fd, cqlen, IORING_OFF_CQ_RING);
  r->sqes = uring_map(r->fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
  if (!sq || !cq || !r->sqes) return -1;
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  r->tail = *r->sq_tail;
  return (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_FILES, &file, 1);
}

static void uring_prep(struct uring *r, int op, void *buf, unsigned len, uint64_t tag) {
  unsigned i = r->tail & *r->sq_mask;
  struct io_uring_sqe *s = &r->sqes[i];
  memset(s, 0, sizeof *s);
  s->opcode = (uint8_t)op;
  s->flags = IOSQE_FIXED_FILE;
  s->off = (uint64_t)-1;
  s->addr = (uintptr_t)buf;
  s->len = len;
  s->rw_flags = RWF_NOWAIT;
  s->user_data = tag;
  r->sq_array[i] = i;
  r->tail++;
}

/* Submits n prepared operations, waits for all n; res[tag] = each result. */
static int uring_run(struct uring *r, unsigned n, int32_t *res) {
  __atomic_store_n(r->sq_tail, r->tail, __ATOMIC_RELEASE);
  unsigned done = 0, sent = 0;
  while (done < n) {
    long k = syscall(__NR_io_uring_enter, r->fd, n - sent, n - done, IORING_ENTER_GETEVENTS, NULL, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    sent += (unsigned)k;
    unsigned h = *r->cq_head, t = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    for (; h != t; h++, done++) res[r->cqes[h & *r->cq_mask].user_data] = r->cqes[h & *r->cq_mask].res;
    __atomic_store_n(r->cq_head, h, __ATOMIC_RELEASE);
  }
  return 0;
}

#endif
