#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int harness_failures = 0;

void harness_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
  harness_failures++;
}

void latch_init(latch *l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->count = 0;
}

void latch_destroy(latch *l) {
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
}

void latch_add(latch *l, long n) {
  pthread_mutex_lock(&l->mu);
  l->count += n;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

long latch_get(latch *l) {
  pthread_mutex_lock(&l->mu);
  long c = l->count;
  pthread_mutex_unlock(&l->mu);
  return c;
}

int latch_wait(latch *l, long target, long timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&l->mu);
  int ok = 1;
  while (l->count < target) {
    if (pthread_cond_timedwait(&l->cv, &l->mu, &deadline) == ETIMEDOUT) {
      ok = l->count >= target;
      break;
    }
  }
  pthread_mutex_unlock(&l->mu);
  return ok;
}

long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    if (len) *len = (size_t)n;
  }
  return buf;
}

int localdc_start(localdc *dc, const char *bin, const char *dir) {
  char key[512], pub[512];
  snprintf(key, sizeof key, "%s/localdc.key.pem", dir);
  snprintf(pub, sizeof pub, "%s/localdc.pub.pem", dir);
  int fds[2];
  if (pipe(fds) != 0) return 0;
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(bin, bin, "--rsa-key", key, "--listen", "127.0.0.1:0", "--public-key-out", pub,
          (char *)NULL);
    perror("exec localdc");
    _exit(127);
  }
  close(fds[1]);
  dc->pid = pid;
  /* The first stdout line is `listening on IP:PORT`. Read byte by byte so
   * nothing after it is consumed. */
  char line[256];
  size_t n = 0;
  while (n + 1 < sizeof line) {
    char c;
    ssize_t r = read(fds[0], &c, 1);
    if (r <= 0 || c == '\n') break;
    line[n++] = c;
  }
  line[n] = 0;
  close(fds[0]);
  const char *prefix = "listening on ";
  if (strncmp(line, prefix, strlen(prefix)) != 0) {
    fprintf(stderr, "localdc said: %s\n", line);
    localdc_stop(dc);
    return 0;
  }
  snprintf(dc->address, sizeof dc->address, "%s", line + strlen(prefix));
  dc->public_key_pem = read_file(pub, NULL);
  return dc->public_key_pem != NULL;
}

void localdc_stop(localdc *dc) {
  if (dc->pid > 0) {
    kill(dc->pid, SIGTERM);
    waitpid(dc->pid, NULL, 0);
    dc->pid = 0;
  }
  free(dc->public_key_pem);
  dc->public_key_pem = NULL;
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

uint32_t tl_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* TL bytes/string: length prefix, data, zero padding to 4. */
static size_t put_bytes(uint8_t *p, const uint8_t *data, size_t len) {
  size_t n;
  if (len < 254) {
    p[0] = (uint8_t)len;
    n = 1;
  } else {
    p[0] = 254;
    p[1] = (uint8_t)len;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)(len >> 16);
    n = 4;
  }
  memcpy(p + n, data, len);
  n += len;
  while (n % 4) p[n++] = 0;
  return n;
}

static long get_bytes(const uint8_t *p, size_t avail, const uint8_t **data) {
  if (avail < 4) return -1;
  size_t len, head;
  if (p[0] < 254) {
    len = p[0];
    head = 1;
  } else {
    len = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16;
    head = 4;
  }
  if (head + len > avail) return -1;
  *data = p + head;
  return (long)len;
}

size_t tl_echo(uint8_t *out, const uint8_t *payload, size_t len) {
  put_u32(out, 0x8f5c7b19u);
  return 4 + put_bytes(out + 4, payload, len);
}

size_t tl_sleep(uint8_t *out, int32_t ms) {
  put_u32(out, 0x16e1c9d6u);
  put_u32(out + 4, (uint32_t)ms);
  return 8;
}

size_t tl_push_updates(uint8_t *out, int32_t count, int32_t size) {
  put_u32(out, 0x0e841a3cu);
  put_u32(out + 4, (uint32_t)count);
  put_u32(out + 8, (uint32_t)size);
  return 12;
}

size_t tl_error(uint8_t *out, int32_t code, const char *message) {
  put_u32(out, 0x27e9abddu);
  put_u32(out + 4, (uint32_t)code);
  return 8 + put_bytes(out + 8, (const uint8_t *)message, strlen(message));
}

size_t tl_cancelled_count(uint8_t *out) {
  put_u32(out, 0x6e16d7e7u);
  return 4;
}

size_t tl_counter_slow(uint8_t *out, const char *key, int32_t ms, int32_t cut) {
  put_u32(out, 0xea6b2c5fu);
  size_t n = 4 + put_bytes(out + 4, (const uint8_t *)key, strlen(key));
  put_u32(out + n, (uint32_t)ms);
  put_u32(out + n + 4, (uint32_t)cut);
  return n + 8;
}

size_t tl_forget_session(uint8_t *out) {
  put_u32(out, 0x54348f76u);
  return 4;
}

long tl_parse_payload(const uint8_t *in, size_t len, const uint8_t **data) {
  if (len < 8 || tl_u32(in) != 0xb750c89eu) return -1;
  return get_bytes(in + 4, len - 4, data);
}

int tl_parse_count(const uint8_t *in, size_t len, int64_t *value) {
  if (len != 12 || tl_u32(in) != 0xf817aaabu) return 0;
  *value = (int64_t)((uint64_t)tl_u32(in + 4) | (uint64_t)tl_u32(in + 8) << 32);
  return 1;
}

long tl_parse_update_seq(const uint8_t *in, size_t len) {
  if (len < 8 || tl_u32(in) != 0x953f0002u) return -1;
  return (long)(int32_t)tl_u32(in + 4);
}
