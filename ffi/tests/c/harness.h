/*
 * A small test harness for the C tests of libmtproto: checks that report the
 * file and line, a latch to wait for callbacks with a deadline, a localdc
 * child process, and hand-built requests of the localdc test API.
 */
#ifndef MTP_TEST_HARNESS_H
#define MTP_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "mtproto.h"

extern int harness_failures;

void harness_fail(const char *file, int line, const char *what);

#define CHECK(cond)                                         \
  do {                                                      \
    if (!(cond)) harness_fail(__FILE__, __LINE__, #cond);   \
  } while (0)

/* Checks that `call` returns `expected`; prints the last error otherwise. */
#define CHECK_RC(call, expected)                                              \
  do {                                                                        \
    mtp_result rc_ = (call);                                                  \
    if (rc_ != (expected)) {                                                  \
      char msg_[512];                                                         \
      snprintf(msg_, sizeof msg_, "%s returned %s (%s), expected %s", #call, \
               mtp_result_name(rc_), mtp_last_error_message(),                \
               mtp_result_name(expected));                                    \
      harness_fail(__FILE__, __LINE__, msg_);                                 \
    }                                                                         \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, MTP_OK)

/* A counter with a condition variable: callbacks count, tests wait. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long count;
} latch;

void latch_init(latch *l);
void latch_destroy(latch *l);
void latch_add(latch *l, long n);
long latch_get(latch *l);
/* Waits until the count reaches `target`; 0 when `timeout_ms` passed first. */
int latch_wait(latch *l, long target, long timeout_ms);

long now_ms(void);
void sleep_ms(long ms);

/* The localdc child process. */
typedef struct {
  pid_t pid;
  char address[256];
  char *public_key_pem;
} localdc;

/* Starts `bin` listening on 127.0.0.1:0 with its keys under `dir`, and
 * reads its `listening on IP:PORT` line. 0 on failure. */
int localdc_start(localdc *dc, const char *bin, const char *dir);
void localdc_stop(localdc *dc);

char *read_file(const char *path, size_t *len);

/* Hand-built requests of localdc/test.tl (TL: little-endian ids, bytes as
 * TL strings padded to 4). Each returns the length written to `out`. */
size_t tl_echo(uint8_t *out, const uint8_t *payload, size_t len);
size_t tl_sleep(uint8_t *out, int32_t ms);
size_t tl_push_updates(uint8_t *out, int32_t count, int32_t size);
size_t tl_error(uint8_t *out, int32_t code, const char *message);
size_t tl_cancelled_count(uint8_t *out);
/* test.counterSlow: cut 0 never, 1 after it ran, 2 after the answer left. */
size_t tl_counter_slow(uint8_t *out, const char *key, int32_t ms, int32_t cut);
size_t tl_forget_session(uint8_t *out);

/* Reads test.payload; returns the payload length or -1, sets *data. */
long tl_parse_payload(const uint8_t *in, size_t len, const uint8_t **data);
/* Reads test.count; returns 0 on failure. */
int tl_parse_count(const uint8_t *in, size_t len, int64_t *value);
/* Reads the seq of a test.update; -1 when it is not one. */
long tl_parse_update_seq(const uint8_t *in, size_t len);

#define TL_BOOL_TRUE 0x997275b5u

uint32_t tl_u32(const uint8_t *p);

#endif
