/*
 * The C side of scripts/bench-c.sh: the same measurements as
 * ffi/examples/bench_rust.rs, through the C API, against the same localdc.
 *
 *   bench_c ADDRESS PUBLIC_KEY_PEM_FILE
 *
 * Prints `name value` lines:
 *   blocking_p50_us       median of unpipelined mtp_session_invoke_blocking
 *                         round trips (64-byte test.echo), best of 3 rounds
 *   pipelined_us_per_req  wall time per request with 256 mtp_session_invoke
 *                         requests in flight (completion callbacks), best of 3
 *   updates_per_s         test.pushUpdates(100000, 16): updates per second
 *                         from the request to the last update delivered to the
 *                         updates callback, best of 3
 *   update_batches        callback calls that delivered them (in that round)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtproto.h"

#define ROUND_TRIPS 3000
#define PIPELINED 100000
#define WINDOW 256
#define UPDATES 100000
#define ROUNDS 3

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long n;
  long batches;
  int errors;
} counter;

static void counter_add(counter *c, long k) {
  pthread_mutex_lock(&c->mu);
  c->n += k;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void counter_wait(counter *c, long target) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 60;
  pthread_mutex_lock(&c->mu);
  while (c->n < target) {
    if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) != 0) {
      fprintf(stderr, "timed out waiting for %ld (have %ld)\n", target, c->n);
      exit(1);
    }
  }
  pthread_mutex_unlock(&c->mu);
}

static void on_done(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  counter *c = (counter *)userdata;
  (void)data;
  (void)len;
  if (result != MTP_OK) c->errors++;
  counter_add(c, 1);
}

static void on_updates(void *userdata, const mtp_bytes *updates, size_t count) {
  counter *c = (counter *)userdata;
  (void)updates;
  c->batches++; /* only the dispatcher thread writes it */
  counter_add(c, (long)count);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void check(mtp_result rc, const char *what) {
  if (rc != MTP_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, mtp_result_name(rc), mtp_last_error_message());
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ADDRESS PUBLIC_KEY_PEM_FILE\n", argv[0]);
    return 2;
  }
  static char pem[8192];
  FILE *f = fopen(argv[2], "rb");
  if (!f) return 2;
  pem[fread(pem, 1, sizeof pem - 1, f)] = 0;
  fclose(f);

  mtp_runtime *rt;
  check(mtp_runtime_new(&rt), "runtime");
  mtp_session_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.address = argv[1];
  cfg.dc_id = 2;
  cfg.rsa_public_key_pem = pem;
  mtp_session *s;
  check(mtp_session_open(rt, &cfg, &s), "open");

  uint8_t req[4 + 1 + 64 + 3] = {0x19, 0x7b, 0x5c, 0x8f, 64};
  memset(req + 5, 7, 64);
  mtp_buffer *out;
  check(mtp_session_invoke_blocking(s, req, sizeof req, 30000, &out), "warm-up");
  mtp_buffer_free(out);

  /* 1. blocking round trips */
  static double times[ROUND_TRIPS];
  double best_p50 = 1e18;
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < ROUND_TRIPS; i++) {
      double t = now_us();
      check(mtp_session_invoke_blocking(s, req, sizeof req, 30000, &out), "echo");
      mtp_buffer_free(out);
      times[i] = now_us() - t;
    }
    qsort(times, ROUND_TRIPS, sizeof times[0], cmp_double);
    if (times[ROUND_TRIPS / 2] < best_p50) best_p50 = times[ROUND_TRIPS / 2];
  }
  printf("blocking_p50_us %.2f\n", best_p50);

  /* 2. pipelined callbacks */
  double best = 1e18;
  for (int r = 0; r < ROUNDS; r++) {
    /* One counter per round, static: the dispatcher may still be leaving
     * the last callback of a round when the next round starts. */
    static counter rounds_done[ROUNDS];
    counter *done = &rounds_done[r];
    pthread_mutex_init(&done->mu, NULL);
    pthread_cond_init(&done->cv, NULL);
    double t = now_us();
    for (long sent = 0; sent < PIPELINED; sent++) {
      if (sent >= WINDOW) counter_wait(done, sent - WINDOW + 1);
      check(mtp_session_invoke(s, req, sizeof req, 30000, on_done, done, NULL), "invoke");
    }
    counter_wait(done, PIPELINED);
    double per = (now_us() - t) / PIPELINED;
    if (per < best) best = per;
    if (done->errors) {
      fprintf(stderr, "%d requests failed\n", done->errors);
      return 1;
    }
  }
  printf("pipelined_us_per_req %.3f\n", best);

  /* 3. pushed updates through the callback */
  double best_rate = 0;
  long best_batches = 0;
  uint8_t push[12] = {0x3c, 0x1a, 0x84, 0x0e};
  int32_t count = UPDATES, size = 16;
  memcpy(push + 4, &count, 4);
  memcpy(push + 8, &size, 4);
  for (int r = 0; r < ROUNDS; r++) {
    static counter rounds_got[ROUNDS];
    counter *got = &rounds_got[r];
    pthread_mutex_init(&got->mu, NULL);
    pthread_cond_init(&got->cv, NULL);
    check(mtp_session_set_updates_callback(s, on_updates, got, NULL), "set callback");
    double t = now_us();
    check(mtp_session_invoke_blocking(s, push, sizeof push, 30000, &out), "pushUpdates");
    mtp_buffer_free(out);
    counter_wait(got, UPDATES);
    double rate = UPDATES / ((now_us() - t) / 1e6);
    if (rate > best_rate) {
      best_rate = rate;
      best_batches = got->batches;
    }
    check(mtp_session_set_updates_callback(s, NULL, NULL, NULL), "clear callback");
  }
  printf("updates_per_s %.0f\n", best_rate);
  printf("update_batches %ld\n", best_batches);
  mtp_session_free(s);
  mtp_runtime_free(rt);
  return 0;
}
