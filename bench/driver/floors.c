/* floors: what this machine itself costs, for reading the round-trip figures (issue 7).
 *
 *   floors [rounds]
 *
 * - pingpong: two threads hand a token over and back through futexes (no mutex, no work), the
 *   least any core can pay for a request that goes to an instance thread and returns; run it
 *   pinned to one CPU to compare with the pinned set.
 * - memcpy_1mib: one copy of 1 MiB between two warm buffers, the copy the identity backend
 *   makes for the 1 MB round trip.
 *
 * Output: "RESULT floor_<name> p50_us <value>" lines, medians over `rounds` (default 200000
 * hand-offs, 2000 copies).
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_int ping, pong;
static atomic_int quit;

static uint64_t
now_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void
fwait(atomic_int* a, int v)
{
  syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void
fwake(atomic_int* a)
{
  syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void*
responder(void* arg)
{
  (void)arg;
  for (;;) {
    while (atomic_load(&ping) == 0) {
      fwait(&ping, 0);
    }
    atomic_store(&ping, 0);
    if (atomic_load(&quit)) {
      return NULL;
    }
    atomic_store(&pong, 1);
    fwake(&pong);
  }
}

static int
cmp_double(const void* a, const void* b)
{
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double
median(double* v, size_t n)
{
  qsort(v, n, sizeof(double), cmp_double);
  return v[n / 2];
}

int
main(int argc, char** argv)
{
  long rounds = argc > 1 ? atol(argv[1]) : 200000;
  if (rounds < 100) {
    rounds = 100;
  }
  /* Hand-offs, timed in batches of 100 so that the clock does not dominate. */
  pthread_t t;
  if (pthread_create(&t, NULL, responder, NULL) != 0) {
    fprintf(stderr, "floors: pthread_create failed\n");
    return 1;
  }
  size_t nb = (size_t)(rounds / 100);
  double* per = calloc(nb, sizeof(double));
  if (per == NULL) {
    return 1;
  }
  for (size_t b = 0; b < nb; ++b) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < 100; ++i) {
      atomic_store(&ping, 1);
      fwake(&ping);
      while (atomic_load(&pong) == 0) {
        fwait(&pong, 0);
      }
      atomic_store(&pong, 0);
    }
    per[b] = (double)(now_ns() - t0) / 100.0 / 1000.0;
  }
  atomic_store(&quit, 1);
  atomic_store(&ping, 1);
  fwake(&ping);
  pthread_join(t, NULL);
  printf("RESULT floor_pingpong p50_us %.3f\n", median(per, nb));
  free(per);

  size_t size = 1u << 20;
  int copies = 2000;
  unsigned char* a = malloc(size);
  unsigned char* c = malloc(size);
  double* cv = calloc((size_t)copies, sizeof(double));
  if (a == NULL || c == NULL || cv == NULL) {
    return 1;
  }
  memset(a, 1, size);
  memset(c, 2, size);
  unsigned sum = 0;
  for (int i = 0; i < copies; ++i) {
    a[i % size] = (unsigned char)i;
    uint64_t t0 = now_ns();
    memcpy(c, a, size);
    cv[i] = (double)(now_ns() - t0) / 1000.0;
    sum += c[(size_t)i * 7919 % size];
  }
  printf("RESULT floor_memcpy_1mib p50_us %.3f\n", median(cv, (size_t)copies));
  fprintf(stderr, "floors: checksum %u\n", sum);
  free(a);
  free(c);
  free(cv);
  return 0;
}
