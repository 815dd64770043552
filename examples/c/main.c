/*
 * The C API in one page: connect to a data center, invoke test.echo, ask the
 * server to push updates and print them as they arrive through the updates
 * callback, then close.
 *
 *   mtproto_example ADDRESS PUBLIC_KEY_PEM_FILE
 *   e.g. mtproto_example 127.0.0.1:4430 target/localdc.pub.pem
 *
 * ADDRESS is a running mtproto-localdc (`listening on ...`); the PEM file is
 * what it wrote with --public-key-out.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mtproto.h>

#define UPDATES_WANTED 5

/* Shared with the updates callback, which runs on the dispatcher thread. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int received;
} updates_state;

static void on_updates(void *userdata, const mtp_bytes *updates, size_t count) {
  updates_state *st = (updates_state *)userdata;
  for (size_t i = 0; i < count; i++) {
    const uint8_t *d = updates[i].data;
    /* test.update#953f0002 seq:int data:bytes */
    unsigned seq = (unsigned)d[4] | (unsigned)d[5] << 8 | (unsigned)d[6] << 16 | (unsigned)d[7] << 24;
    printf("update: seq %u, %zu bytes (batch of %zu)\n", seq, updates[i].len, count);
  }
  pthread_mutex_lock(&st->mu);
  st->received += (int)count;
  pthread_cond_signal(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static int fail(const char *what, mtp_result rc) {
  fprintf(stderr, "%s: %s: %s\n", what, mtp_result_name(rc), mtp_last_error_message());
  return 1;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ADDRESS PUBLIC_KEY_PEM_FILE\n", argv[0]);
    return 2;
  }
  const char *pem = read_text(argv[2]);
  if (!pem) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 2;
  }
  printf("libmtproto %s\n", mtp_version());

  mtp_runtime *rt = NULL;
  mtp_result rc = mtp_runtime_new(&rt);
  if (rc != MTP_OK) return fail("mtp_runtime_new", rc);

  mtp_session_config config = {0};
  config.address = argv[1];
  config.dc_id = 2;
  config.rsa_public_key_pem = pem;
  mtp_session *session = NULL;
  rc = mtp_session_open(rt, &config, &session);
  if (rc != MTP_OK) return fail("mtp_session_open", rc);

  /* test.echo#8f5c7b19 payload:bytes = test.Payload; payload "hello" */
  const uint8_t echo[] = {0x19, 0x7b, 0x5c, 0x8f, 5, 'h', 'e', 'l', 'l', 'o', 0, 0};
  mtp_buffer *answer = NULL;
  rc = mtp_session_invoke_blocking(session, echo, sizeof echo, 10000, &answer);
  if (rc != MTP_OK) return fail("test.echo", rc);
  const uint8_t *data;
  size_t len;
  mtp_buffer_data(answer, &data, &len);
  /* test.payload#b750c89e data:bytes: the text starts at byte 5 */
  printf("echo: %.*s (%zu bytes of TL)\n", (int)data[4], (const char *)data + 5, len);
  mtp_buffer_free(answer);

  updates_state st;
  pthread_mutex_init(&st.mu, NULL);
  pthread_cond_init(&st.cv, NULL);
  st.received = 0;
  rc = mtp_session_set_updates_callback(session, on_updates, &st, NULL);
  if (rc != MTP_OK) return fail("mtp_session_set_updates_callback", rc);

  /* test.pushUpdates#0e841a3c count:int size:int = Bool */
  const uint8_t push[] = {0x3c, 0x1a, 0x84, 0x0e, UPDATES_WANTED, 0, 0, 0, 16, 0, 0, 0};
  rc = mtp_session_invoke_blocking(session, push, sizeof push, 10000, &answer);
  if (rc != MTP_OK) return fail("test.pushUpdates", rc);
  mtp_buffer_free(answer);

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock(&st.mu);
  while (st.received < UPDATES_WANTED &&
         pthread_cond_timedwait(&st.cv, &st.mu, &deadline) == 0) {
  }
  int received = st.received;
  pthread_mutex_unlock(&st.mu);

  /* Free the session, then the runtime: mtp_runtime_free joins the
   * dispatcher thread, so no callback is running when `st` goes away. */
  mtp_session_free(session);
  mtp_runtime_free(rt);
  pthread_cond_destroy(&st.cv);
  pthread_mutex_destroy(&st.mu);
  printf("received %d of %d updates\n", received, UPDATES_WANTED);
  return received == UPDATES_WANTED ? 0 : 1;
}
