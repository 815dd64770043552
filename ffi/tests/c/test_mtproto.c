/*
 * C tests of libmtproto against a real localdc child process.
 *
 * Usage: test_mtproto LOCALDC_BIN WORK_DIR TEST_TL
 *   LOCALDC_BIN  target/release/mtproto-localdc
 *   WORK_DIR     an empty scratch directory (keys, SQLite store)
 *   TEST_TL      localdc/test.tl (the schema of the test API)
 * MTP_TEST_SCALE (default 4) sizes the loops; the valgrind run uses 1.
 *
 * Every exported function is called at least once; each test names the
 * behaviour it proves. Exit status 0 only if every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

static localdc dc;
static const char *work_dir;
static char *test_tl;
static size_t test_tl_len;
static int scale = 4;
/* Generous: the valgrind run is ~30x slower than native. */
static const long WAIT_MS = 60000;

static mtp_session_config base_config(void) {
  mtp_session_config c;
  memset(&c, 0, sizeof c);
  c.address = dc.address;
  c.dc_id = 2;
  c.rsa_public_key_pem = dc.public_key_pem;
  return c;
}

/* Sessions of most tests share one SQLite store, so the auth key is created
 * once (a key exchange is slow under valgrind). */
static char store_path[512];

static mtp_session *open_session(mtp_runtime *rt) {
  mtp_session_config c = base_config();
  c.store_path = store_path;
  mtp_session *s = NULL;
  CHECK_OK(mtp_session_open(rt, &c, &s));
  return s;
}

static mtp_buffer *blocking(mtp_session *s, const uint8_t *req, size_t len, mtp_result expected) {
  mtp_buffer *out = (mtp_buffer *)0x1; /* must be overwritten */
  mtp_result rc = mtp_session_invoke_blocking(s, req, len, 0, &out);
  if (rc != expected) {
    fprintf(stderr, "  invoke_blocking: %s (%s)\n", mtp_result_name(rc), mtp_last_error_message());
    CHECK(rc == expected);
  }
  if (rc != MTP_OK) CHECK(out == NULL);
  return rc == MTP_OK ? out : NULL;
}

static int echo_round_trip(mtp_session *s, const char *text) {
  uint8_t req[512];
  size_t n = tl_echo(req, (const uint8_t *)text, strlen(text));
  mtp_buffer *out = blocking(s, req, n, MTP_OK);
  if (!out) return 0;
  const uint8_t *data;
  size_t len;
  CHECK_OK(mtp_buffer_data(out, &data, &len));
  const uint8_t *payload;
  long plen = tl_parse_payload(data, len, &payload);
  int ok = plen == (long)strlen(text) && memcmp(payload, text, (size_t)plen) == 0;
  CHECK_OK(mtp_buffer_free(out));
  return ok;
}

static int64_t cancelled_count(mtp_session *s) {
  uint8_t req[8];
  size_t n = tl_cancelled_count(req);
  mtp_buffer *out = blocking(s, req, n, MTP_OK);
  int64_t v = -1;
  if (out) {
    const uint8_t *data;
    size_t len;
    CHECK_OK(mtp_buffer_data(out, &data, &len));
    CHECK(tl_parse_count(data, len, &v));
    mtp_buffer_free(out);
  }
  return v;
}

/* ---- version, names, last error ------------------------------------- */

static void test_version_result_names_and_last_error_slot(void) {
  CHECK(strlen(mtp_version()) > 0);
  CHECK(strcmp(mtp_result_name(MTP_ERR_TIMEOUT), "MTP_ERR_TIMEOUT") == 0);
  CHECK(strcmp(mtp_result_name(MTP_OK), "MTP_OK") == 0);
  CHECK(strcmp(mtp_result_name(9999), "MTP_UNKNOWN_RESULT") == 0);
  CHECK(strcmp(mtp_result_name(-1), "MTP_UNKNOWN_RESULT") == 0);
  /* The stable numbers are part of the ABI. */
  CHECK(MTP_OK == 0 && MTP_ERR_RPC == 1 && MTP_ERR_CLOSED == 5 && MTP_ERR_INVALID_HANDLE == 10 &&
        MTP_ERR_INTERNAL == 13);
  CHECK_RC(mtp_runtime_new(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK(mtp_last_error_code() == MTP_ERR_NULL_ARGUMENT);
  CHECK(strstr(mtp_last_error_message(), "out_runtime") != NULL);
  CHECK(mtp_last_error_rpc_code() == 0);
  /* A success clears the slot. */
  CHECK(strlen(mtp_version()) > 0);
  mtp_runtime *rt = NULL;
  CHECK_OK(mtp_runtime_new(&rt));
  CHECK(mtp_last_error_code() == MTP_OK);
  CHECK(strcmp(mtp_last_error_message(), "") == 0);
  CHECK_OK(mtp_runtime_free(rt));
}

/* ---- handles ---------------------------------------------------------- */

static void test_null_garbage_foreign_and_double_freed_handles_are_errors(void) {
  mtp_runtime *rt = NULL;
  CHECK_OK(mtp_runtime_new(&rt));
  CHECK(rt != NULL);
  CHECK_RC(mtp_runtime_free(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_runtime_free((mtp_runtime *)(uintptr_t)0x1234), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_runtime_free((mtp_runtime *)(uintptr_t)0x1235), MTP_ERR_INVALID_HANDLE);
  /* A real heap pointer is never a handle. */
  void *heap = malloc(64);
  CHECK_RC(mtp_runtime_free((mtp_runtime *)heap), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_session_close((mtp_session *)heap), MTP_ERR_INVALID_HANDLE);
  free(heap);
  /* A handle of another type is refused. */
  CHECK_RC(mtp_session_close((mtp_session *)rt), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_buffer_free((mtp_buffer *)rt), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_schema_free((mtp_schema *)rt), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_update_batch_free((mtp_update_batch *)rt), MTP_ERR_INVALID_HANDLE);
  mtp_session *s = open_session(rt);
  CHECK(echo_round_trip(s, "handles"));
  CHECK_RC(mtp_runtime_free((mtp_runtime *)s), MTP_ERR_INVALID_HANDLE);
  /* Session handle functions with NULL. */
  uint8_t req[16];
  size_t n = tl_sleep(req, 1);
  mtp_buffer *out = NULL;
  mtp_update_batch *batch = NULL;
  CHECK_RC(mtp_session_close(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_free(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_cancel(NULL, 1), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_invoke_blocking(NULL, req, n, 0, &out), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_invoke(NULL, req, n, 0, NULL, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_next_updates(NULL, 0, 0, &batch), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_set_updates_callback(NULL, NULL, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_set_state_callback(NULL, NULL, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  /* NULL arguments other than the handle. */
  CHECK_RC(mtp_session_invoke_blocking(s, req, n, 0, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_invoke_blocking(s, NULL, 8, 0, &out), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_invoke(s, req, n, 0, NULL, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_next_updates(s, 0, 0, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_buffer_data(NULL, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_update_batch_count(NULL, NULL), MTP_ERR_NULL_ARGUMENT);
  /* Free, then every use of the freed handle is an error, not a crash. */
  CHECK_OK(mtp_session_free(s));
  CHECK_RC(mtp_session_free(s), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_session_close(s), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_session_invoke_blocking(s, req, n, 0, &out), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_session_cancel(s, 1), MTP_ERR_INVALID_HANDLE);
  CHECK_OK(mtp_runtime_free(rt));
  CHECK_RC(mtp_runtime_free(rt), MTP_ERR_INVALID_HANDLE);
  /* A session cannot be opened on a freed runtime. */
  mtp_session_config c = base_config();
  mtp_session *s2 = (mtp_session *)0x1;
  CHECK_RC(mtp_session_open(rt, &c, &s2), MTP_ERR_INVALID_HANDLE);
  CHECK(s2 == NULL);
}

/* ---- configuration ---------------------------------------------------- */

static void expect_open_error(mtp_runtime *rt, const mtp_session_config *c, mtp_result rc,
                              const char *needle) {
  mtp_session *s = (mtp_session *)0x1;
  CHECK_RC(mtp_session_open(rt, c, &s), rc);
  CHECK(s == NULL);
  if (needle && !strstr(mtp_last_error_message(), needle)) {
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", mtp_last_error_message(), needle);
    CHECK(!"the error message names the problem");
  }
}

static void test_bad_config_values_are_refused_with_a_message(void) {
  mtp_runtime *rt = NULL;
  CHECK_OK(mtp_runtime_new(&rt));
  mtp_session_config c = base_config();
  mtp_session *s = NULL;
  CHECK_RC(mtp_session_open(rt, NULL, &s), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_open(rt, &c, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_session_open(NULL, &c, &s), MTP_ERR_NULL_ARGUMENT);

  c = base_config();
  c.address = NULL;
  expect_open_error(rt, &c, MTP_ERR_NULL_ARGUMENT, "address");
  c.address = "no port here";
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "address");
  c.address = "\xff\xfe:443";
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "UTF-8");
  c = base_config();
  c.dc_id = 0;
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "dc_id");
  c = base_config();
  c.rsa_public_key_pem = "-----BEGIN RSA PUBLIC KEY-----\nnot base64\n-----END RSA PUBLIC KEY-----\n";
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "rsa_public_keys_pem");
  c = base_config();
  c.rsa_public_key_pem = NULL; /* and no key in a fresh memory store */
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "RSA");
  c = base_config();
  c.transport = 99;
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "transport");
  c.transport = -1;
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "transport");
  c = base_config();
  c.ping_interval_ms = 10;
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "ping_interval");
  c = base_config();
  c.request_timeout_ms = 4000000000u; /* ~46 days, beyond the 7-day limit */
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "request_timeout");
  c = base_config();
  c.store_path = "/nonexistent-dir-for-mtproto-test/x/store.db";
  expect_open_error(rt, &c, MTP_ERR_STORAGE, NULL);
  c.store_path = "";
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "store_path");
  c = base_config();
  c.lang_code = "\xc3\x28";
  expect_open_error(rt, &c, MTP_ERR_INVALID_INPUT, "lang_code");

  /* Every explicit field accepted: api_id (initConnection), client info,
   * a non-default transport, timeouts. The session works. */
  c = base_config();
  c.store_path = store_path;
  c.transport = MTP_TRANSPORT_INTERMEDIATE;
  c.connect_timeout_ms = 5000;
  c.request_timeout_ms = 30000;
  c.ping_interval_ms = 30000;
  c.api_id = 12345;
  c.device_model = "c-test";
  c.system_version = "linux";
  c.app_version = "1.0";
  c.system_lang_code = "en";
  c.lang_pack = "";
  c.lang_code = "en";
  c.max_buffered_updates = 100;
  CHECK_OK(mtp_session_open(rt, &c, &s));
  CHECK(echo_round_trip(s, "with initConnection"));
  CHECK_OK(mtp_session_free(s));
  CHECK_OK(mtp_runtime_free(rt));
}

/* ---- codec ------------------------------------------------------------ */

static void test_codec_round_trips_and_rejects_bad_schema_json_and_bytes(void) {
  mtp_schema *schema = NULL;
  CHECK_RC(mtp_schema_new(NULL, 5, &schema), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_new(test_tl, test_tl_len, NULL), MTP_ERR_NULL_ARGUMENT);
  const char *bad = "test.broken#zzzz = ;";
  CHECK_RC(mtp_schema_new(bad, strlen(bad), &schema), MTP_ERR_SCHEMA);
  CHECK(schema == NULL);
  CHECK_RC(mtp_schema_new("\xff\xff", 2, &schema), MTP_ERR_INVALID_INPUT);
  CHECK_OK(mtp_schema_new(test_tl, test_tl_len, &schema));

  /* JSON -> bytes equals the hand-built request. */
  const char *json = "{\"_\": \"test.echo\", \"payload\": \"aGVsbG8=\"}";
  mtp_buffer *bytes = NULL;
  CHECK_OK(mtp_schema_encode(schema, json, strlen(json), &bytes));
  const uint8_t *data;
  size_t len;
  CHECK_OK(mtp_buffer_data(bytes, &data, &len));
  uint8_t expect[64];
  size_t en = tl_echo(expect, (const uint8_t *)"hello", 5);
  CHECK(len == en && memcmp(data, expect, en) == 0);
  CHECK_RC(mtp_buffer_data(bytes, NULL, &len), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_buffer_data(bytes, &data, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_OK(mtp_buffer_free(bytes));
  CHECK_RC(mtp_buffer_free(bytes), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_buffer_data(bytes, &data, &len), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_buffer_free(NULL), MTP_ERR_NULL_ARGUMENT);

  /* Bad JSON, JSON that does not fit, unknown names. */
  const char *not_json = "{\"_\": \"test.echo\", ";
  CHECK_RC(mtp_schema_encode(schema, not_json, strlen(not_json), &bytes), MTP_ERR_INVALID_INPUT);
  CHECK(bytes == NULL);
  const char *unknown = "{\"_\": \"test.nothing\"}";
  CHECK_RC(mtp_schema_encode(schema, unknown, strlen(unknown), &bytes), MTP_ERR_CODEC);
  CHECK(strstr(mtp_last_error_message(), "test.nothing") != NULL);
  const char *wrong = "{\"_\": \"test.sleep\", \"ms\": \"soon\"}";
  CHECK_RC(mtp_schema_encode(schema, wrong, strlen(wrong), &bytes), MTP_ERR_CODEC);
  CHECK(strstr(mtp_last_error_message(), "ms") != NULL);
  CHECK_RC(mtp_schema_encode(schema, NULL, 3, &bytes), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_encode(schema, json, strlen(json), NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_encode(NULL, json, strlen(json), &bytes), MTP_ERR_NULL_ARGUMENT);

  /* bytes -> JSON, by constructor id and as a function's result. */
  uint8_t payload_obj[16] = {0x9e, 0xc8, 0x50, 0xb7, 2, 'h', 'i', 0};
  mtp_buffer *out = NULL;
  CHECK_OK(mtp_schema_decode(schema, NULL, payload_obj, 8, &out));
  CHECK_OK(mtp_buffer_data(out, &data, &len));
  CHECK(data[len] == 0); /* NUL-terminated JSON text */
  CHECK(strstr((const char *)data, "\"test.payload\"") != NULL);
  CHECK(strstr((const char *)data, "aGk=") != NULL);
  CHECK_OK(mtp_buffer_free(out));
  CHECK_OK(mtp_schema_decode(schema, "test.echo", payload_obj, 8, &out));
  CHECK_OK(mtp_buffer_free(out));
  /* Bad bytes: unknown constructor, truncated, trailing, wrong function. */
  uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_RC(mtp_schema_decode(schema, NULL, junk, 8, &out), MTP_ERR_CODEC);
  CHECK(out == NULL);
  CHECK_RC(mtp_schema_decode(schema, NULL, payload_obj, 6, &out), MTP_ERR_CODEC);
  CHECK_RC(mtp_schema_decode(schema, NULL, payload_obj, 12, &out), MTP_ERR_CODEC);
  CHECK_RC(mtp_schema_decode(schema, "test.nothing", payload_obj, 8, &out), MTP_ERR_CODEC);
  CHECK_RC(mtp_schema_decode(schema, "\xff", payload_obj, 8, &out), MTP_ERR_INVALID_INPUT);
  CHECK_RC(mtp_schema_decode(schema, NULL, NULL, 8, &out), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_decode(schema, NULL, payload_obj, 8, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_decode(NULL, NULL, payload_obj, 8, &out), MTP_ERR_NULL_ARGUMENT);

  /* Extending: a bad text leaves the schema unchanged; a good one adds. */
  const char *extra = "---functions---\nextra.ping#1a2b3c4d value:int = Bool;\n";
  const char *extra_json = "{\"_\": \"extra.ping\", \"value\": 7}";
  CHECK_RC(mtp_schema_encode(schema, extra_json, strlen(extra_json), &out), MTP_ERR_CODEC);
  CHECK_RC(mtp_schema_extend(schema, bad, strlen(bad)), MTP_ERR_SCHEMA);
  CHECK_RC(mtp_schema_extend(NULL, extra, strlen(extra)), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_extend(schema, NULL, 4), MTP_ERR_NULL_ARGUMENT);
  CHECK_OK(mtp_schema_extend(schema, extra, strlen(extra)));
  CHECK_OK(mtp_schema_encode(schema, extra_json, strlen(extra_json), &out));
  CHECK_OK(mtp_buffer_data(out, &data, &len));
  CHECK(len == 8 && tl_u32(data) == 0x1a2b3c4du && tl_u32(data + 4) == 7);
  CHECK_OK(mtp_buffer_free(out));

  CHECK_RC(mtp_schema_free(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_OK(mtp_schema_free(schema));
  CHECK_RC(mtp_schema_free(schema), MTP_ERR_INVALID_HANDLE);
  CHECK_RC(mtp_schema_encode(schema, json, strlen(json), &out), MTP_ERR_INVALID_HANDLE);
}

/* ---- lengths are checked before memory is read -------------------------- */

/* A refused request never calls back. */
static void on_invoke_never(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  (void)userdata; (void)result; (void)data; (void)len;
  harness_fail(__FILE__, __LINE__, "a refused request called back");
}

/* A request placed so that it ends exactly at a PROT_NONE guard page: any
 * read past its true length faults. */
static void test_wrong_lengths_are_refused_before_memory_is_read(mtp_session *s) {
  long page = sysconf(_SC_PAGESIZE);
  uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  CHECK(map != MAP_FAILED);
  if (map == MAP_FAILED) return;
  CHECK(mprotect(map + page, (size_t)page, PROT_NONE) == 0);
  uint8_t req[64];
  size_t n = tl_echo(req, (const uint8_t *)"guarded", 7);
  uint8_t *at = map + page - n;
  memcpy(at, req, n);

  /* The true length works, up to the last byte before the guard. */
  mtp_buffer *out = blocking(s, at, n, MTP_OK);
  if (out) CHECK_OK(mtp_buffer_free(out));

  /* Lengths past the guard: 2 MiB (over the 1 MiB limit), 2^40, SIZE_MAX. */
  size_t wrong[] = {(size_t)2 << 20, (size_t)1 << 40, (size_t)-1};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    out = (mtp_buffer *)0x1;
    CHECK_RC(mtp_session_invoke_blocking(s, at, wrong[i], 1000, &out), MTP_ERR_INVALID_INPUT);
    CHECK(out == NULL);
    CHECK(strstr(mtp_last_error_message(), "length") != NULL);
    uint64_t id = 0;
    CHECK_RC(mtp_session_invoke(s, at, wrong[i], 1000, on_invoke_never, NULL, &id),
             MTP_ERR_INVALID_INPUT);
  }
  /* The codec functions too (their limit is 16 MiB). */
  mtp_schema *schema = NULL;
  CHECK_OK(mtp_schema_new_telegram(&schema));
  mtp_buffer *b = NULL;
  CHECK_RC(mtp_schema_encode(schema, (const char *)at, (size_t)1 << 40, &b), MTP_ERR_INVALID_INPUT);
  CHECK_RC(mtp_schema_decode(schema, NULL, at, (size_t)1 << 40, &b), MTP_ERR_INVALID_INPUT);
  CHECK_RC(mtp_schema_extend(schema, (const char *)at, (size_t)-1), MTP_ERR_INVALID_INPUT);
  mtp_schema *refused = (mtp_schema *)0x1;
  CHECK_RC(mtp_schema_new((const char *)at, (size_t)32 << 20, &refused), MTP_ERR_INVALID_INPUT);
  CHECK(refused == NULL);
  CHECK_OK(mtp_schema_free(schema));
  munmap(map, (size_t)page * 2);
}

/* ---- the bundled Telegram schema ---------------------------------------- */

static void test_telegram_schema_encodes_get_config_and_decodes_a_config(void) {
  mtp_schema *tg = NULL, *other = NULL;
  CHECK_RC(mtp_schema_new_telegram(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_OK(mtp_schema_new_telegram(&tg));
  CHECK_OK(mtp_schema_new_telegram(&other));
  int32_t layer = -1;
  CHECK_OK(mtp_schema_layer(tg, &layer));
  CHECK(layer >= 228); /* the layer of core/tl/api.tl; it only goes up */
  CHECK_RC(mtp_schema_layer(tg, NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_schema_layer(NULL, &layer), MTP_ERR_NULL_ARGUMENT);

  /* help.getConfig is its id alone. */
  const char *call = "{\"_\": \"help.getConfig\"}";
  mtp_buffer *bytes = NULL;
  CHECK_OK(mtp_schema_encode(tg, call, strlen(call), &bytes));
  const uint8_t *data;
  size_t len;
  CHECK_OK(mtp_buffer_data(bytes, &data, &len));
  CHECK(len == 4 && tl_u32(data) == 0xc4f9186bu);
  CHECK_OK(mtp_buffer_free(bytes));

  /* A config, as the server answers it, back to JSON through the
   * function's declared result type. */
  const char *config =
      "{\"_\": \"config\", \"date\": 1700000000, \"expires\": 1700003600, \"test_mode\": false,"
      " \"this_dc\": 2, \"dc_options\": [{\"_\": \"dcOption\", \"id\": 2,"
      " \"ip_address\": \"149.154.167.50\", \"port\": 443}],"
      " \"dc_txt_domain_name\": \"apv3.stel.com\", \"chat_size_max\": 200,"
      " \"megagroup_size_max\": 200000, \"forwarded_count_max\": 100,"
      " \"online_update_period_ms\": 210000, \"offline_blur_timeout_ms\": 5000,"
      " \"offline_idle_timeout_ms\": 30000, \"online_cloud_timeout_ms\": 300000,"
      " \"notify_cloud_delay_ms\": 30000, \"notify_default_delay_ms\": 1500,"
      " \"push_chat_period_ms\": 60000, \"push_chat_limit\": 2, \"edit_time_limit\": 172800,"
      " \"revoke_time_limit\": 2147483647, \"revoke_pm_time_limit\": 2147483647,"
      " \"rating_e_decay\": 2419200, \"stickers_recent_limit\": 200,"
      " \"channels_read_media_period\": 604800, \"call_receive_timeout_ms\": 20000,"
      " \"call_ring_timeout_ms\": 90000, \"call_connect_timeout_ms\": 30000,"
      " \"call_packet_timeout_ms\": 10000, \"me_url_prefix\": \"https://t.me/\","
      " \"caption_length_max\": 1024, \"message_length_max\": 4096, \"webfile_dc_id\": 4}";
  CHECK_OK(mtp_schema_encode(tg, config, strlen(config), &bytes));
  CHECK_OK(mtp_buffer_data(bytes, &data, &len));
  CHECK(len > 100 && tl_u32(data) == 0xcc1a241eu);
  mtp_buffer *json = NULL;
  CHECK_OK(mtp_schema_decode(tg, "help.getConfig", data, len, &json));
  const uint8_t *text;
  size_t text_len;
  CHECK_OK(mtp_buffer_data(json, &text, &text_len));
  CHECK(strstr((const char *)text, "\"149.154.167.50\"") != NULL);
  CHECK(strstr((const char *)text, "\"me_url_prefix\":\"https://t.me/\"") != NULL);
  CHECK_OK(mtp_buffer_free(json));
  CHECK_OK(mtp_buffer_free(bytes));

  /* Extending one handle leaves the other (and the bundled copy) alone. */
  const char *extra = "---functions---\nextra.only#1a2b3c4e = Bool;\n";
  const char *extra_json = "{\"_\": \"extra.only\"}";
  CHECK_OK(mtp_schema_extend(tg, extra, strlen(extra)));
  CHECK_OK(mtp_schema_encode(tg, extra_json, strlen(extra_json), &bytes));
  CHECK_OK(mtp_buffer_free(bytes));
  CHECK_RC(mtp_schema_encode(other, extra_json, strlen(extra_json), &bytes), MTP_ERR_CODEC);
  CHECK_OK(mtp_schema_free(other));
  CHECK_OK(mtp_schema_new_telegram(&other));
  CHECK_RC(mtp_schema_encode(other, extra_json, strlen(extra_json), &bytes), MTP_ERR_CODEC);
  CHECK_OK(mtp_schema_free(other));
  CHECK_OK(mtp_schema_free(tg));
}

/* ---- logging ------------------------------------------------------------ */

typedef struct {
  pthread_mutex_t mu;
  long records;
  long queued_lines; /* records that say "request queued" */
  int bad_level;
  int wrong_thread;
  pthread_t caller;
} log_capture;

static void on_log(void *userdata, mtp_log_level level, const char *target, const char *message,
                   size_t message_len) {
  log_capture *c = userdata;
  pthread_mutex_lock(&c->mu);
  c->records++;
  if (level < MTP_LOG_ERROR || level > MTP_LOG_TRACE) c->bad_level = 1;
  if (pthread_equal(pthread_self(), c->caller)) c->wrong_thread = 1;
  if (strlen(message) != message_len || target == NULL) c->bad_level = 1;
  if (strncmp(target, "mtproto::", 9) == 0 && strstr(message, "request queued")) c->queued_lines++;
  pthread_mutex_unlock(&c->mu);
}

static long log_count(log_capture *c) {
  pthread_mutex_lock(&c->mu);
  long n = c->records;
  pthread_mutex_unlock(&c->mu);
  return n;
}

static void test_log_callback_gets_core_records_on_its_own_thread(mtp_runtime *rt) {
  log_capture cap = {.records = 0, .queued_lines = 0, .bad_level = 0, .wrong_thread = 0};
  pthread_mutex_init(&cap.mu, NULL);
  cap.caller = pthread_self();
  CHECK_RC(mtp_set_log_callback(9, on_log, &cap), MTP_ERR_INVALID_INPUT);
  CHECK_RC(mtp_set_log_callback(-1, on_log, &cap), MTP_ERR_INVALID_INPUT);
  CHECK_RC(mtp_set_log_level(6), MTP_ERR_INVALID_INPUT);
  CHECK_OK(mtp_set_log_callback(MTP_LOG_TRACE, on_log, &cap));

  mtp_session *s = open_session(rt);
  CHECK(echo_round_trip(s, "a request whose body is never logged"));
  CHECK_OK(mtp_session_free(s));
  CHECK_OK(mtp_log_flush(5000));
  pthread_mutex_lock(&cap.mu);
  CHECK(cap.queued_lines >= 1);
  CHECK(!cap.bad_level);
  CHECK(!cap.wrong_thread);
  pthread_mutex_unlock(&cap.mu);

  /* Off: when the call returns the callback never runs again, so `cap`
   * may go away. */
  CHECK_OK(mtp_set_log_callback(MTP_LOG_OFF, on_log, &cap));
  long before = log_count(&cap);
  s = open_session(rt);
  CHECK(echo_round_trip(s, "not logged"));
  CHECK_OK(mtp_session_free(s));
  CHECK_OK(mtp_log_flush(5000));
  CHECK(log_count(&cap) == before);
  CHECK_OK(mtp_set_log_callback(MTP_LOG_WARN, NULL, NULL));
  pthread_mutex_destroy(&cap.mu);
}

/* ---- blocking invoke -------------------------------------------------- */

static void test_blocking_invoke_answers_errors_and_times_out(mtp_session *s) {
  CHECK(echo_round_trip(s, "hello from C"));
  /* An echo built with the codec, decoded with the codec. */
  mtp_schema *schema = NULL;
  CHECK_OK(mtp_schema_new(test_tl, test_tl_len, &schema));
  const char *json = "{\"_\": \"test.echo\", \"payload\": \"Y29kZWM=\"}";
  mtp_buffer *req = NULL, *answer = NULL, *decoded = NULL;
  CHECK_OK(mtp_schema_encode(schema, json, strlen(json), &req));
  const uint8_t *rdata, *adata, *jdata;
  size_t rlen, alen, jlen;
  CHECK_OK(mtp_buffer_data(req, &rdata, &rlen));
  CHECK_OK(mtp_session_invoke_blocking(s, rdata, rlen, 10000, &answer));
  CHECK_OK(mtp_buffer_data(answer, &adata, &alen));
  CHECK_OK(mtp_schema_decode(schema, "test.echo", adata, alen, &decoded));
  CHECK_OK(mtp_buffer_data(decoded, &jdata, &jlen));
  CHECK(strstr((const char *)jdata, "Y29kZWM=") != NULL);
  mtp_buffer_free(req);
  mtp_buffer_free(answer);
  mtp_buffer_free(decoded);
  mtp_schema_free(schema);

  /* An RPC error carries the server's code and message. */
  uint8_t buf[256];
  size_t n = tl_error(buf, 420, "FLOOD_WAIT_3");
  blocking(s, buf, n, MTP_ERR_RPC);
  CHECK(mtp_last_error_rpc_code() == 420);
  CHECK(strstr(mtp_last_error_message(), "FLOOD_WAIT_3") != NULL);
  /* Request bytes that cannot be TL are refused before sending. */
  blocking(s, buf, 3, MTP_ERR_INVALID_INPUT);
  blocking(s, buf, 6, MTP_ERR_INVALID_INPUT);
  blocking(s, NULL, 0, MTP_ERR_INVALID_INPUT);
  /* A slow answer times out (and the server is asked to drop it). */
  n = tl_sleep(buf, 3000);
  mtp_buffer *out = NULL;
  long t0 = now_ms();
  CHECK_RC(mtp_session_invoke_blocking(s, buf, n, 300, &out), MTP_ERR_TIMEOUT);
  CHECK(out == NULL);
  CHECK(now_ms() - t0 < 2900);
}

/* ---- callbacks -------------------------------------------------------- */

typedef struct {
  latch done;
  pthread_t caller;
  int wrong_thread;
  int ok, cancelled, closed, rpc, timedout, other;
  int rpc_code;
  char message[128];
  char payload[64];
} invoke_probe;

static void probe_init(invoke_probe *p) {
  memset(p, 0, sizeof *p);
  latch_init(&p->done);
  p->caller = pthread_self();
}

static void on_invoke(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  invoke_probe *p = (invoke_probe *)userdata;
  if (pthread_equal(pthread_self(), p->caller)) p->wrong_thread++;
  switch (result) {
    case MTP_OK: {
      const uint8_t *payload;
      long plen = tl_parse_payload(data, len, &payload);
      if (plen >= 0 && plen < (long)sizeof p->payload) {
        memcpy(p->payload, payload, (size_t)plen);
        p->payload[plen] = 0;
      }
      p->ok++;
      break;
    }
    case MTP_ERR_CANCELLED: p->cancelled++; break;
    case MTP_ERR_CLOSED: p->closed++; break;
    case MTP_ERR_TIMEOUT: p->timedout++; break;
    case MTP_ERR_RPC:
      p->rpc++;
      p->rpc_code = mtp_last_error_rpc_code();
      snprintf(p->message, sizeof p->message, "%s", mtp_last_error_message());
      break;
    default: p->other++; break;
  }
  if (result != MTP_OK && (data != NULL || len != 0)) p->other++;
  latch_add(&p->done, 1);
}

static void test_invoke_callbacks_get_userdata_results_and_errors_off_the_caller_thread(
    mtp_session *s) {
  invoke_probe p;
  probe_init(&p);
  uint8_t req[256];
  size_t n = tl_echo(req, (const uint8_t *)"cb", 2);
  uint64_t id1 = 0, id2 = 0;
  CHECK_OK(mtp_session_invoke(s, req, n, 0, on_invoke, &p, &id1));
  n = tl_error(req, 400, "BAD_REQUEST_FROM_C");
  CHECK_OK(mtp_session_invoke(s, req, n, 10000, on_invoke, &p, &id2));
  CHECK(id1 != 0 && id2 != 0 && id1 != id2);
  /* NULL out_request_id is allowed. */
  n = tl_echo(req, (const uint8_t *)"cb", 2);
  CHECK_OK(mtp_session_invoke(s, req, n, 0, on_invoke, &p, NULL));
  CHECK(latch_wait(&p.done, 3, WAIT_MS));
  CHECK(p.ok == 2 && p.rpc == 1 && p.other == 0);
  CHECK(p.rpc_code == 400);
  CHECK(strstr(p.message, "BAD_REQUEST_FROM_C") != NULL);
  CHECK(strcmp(p.payload, "cb") == 0);
  CHECK(p.wrong_thread == 0);
  /* A refused request returns the error and never calls the callback. */
  CHECK_RC(mtp_session_invoke(s, req, 5, 0, on_invoke, &p, NULL), MTP_ERR_INVALID_INPUT);
  sleep_ms(50);
  CHECK(latch_get(&p.done) == 3);
  latch_destroy(&p.done);
}

static void test_cancel_ends_the_request_and_reaches_the_server(mtp_session *s) {
  int64_t before = cancelled_count(s);
  CHECK(before >= 0);
  invoke_probe p;
  probe_init(&p);
  uint8_t req[16];
  size_t n = tl_sleep(req, 20000);
  uint64_t id = 0;
  CHECK_OK(mtp_session_invoke(s, req, n, 30000, on_invoke, &p, &id));
  /* Let the request reach the server before cancelling it. */
  sleep_ms(300);
  CHECK_OK(mtp_session_cancel(s, id));
  CHECK(latch_wait(&p.done, 1, WAIT_MS));
  CHECK(p.cancelled == 1 && p.ok == 0);
  /* Unknown and finished ids are ignored. */
  CHECK_OK(mtp_session_cancel(s, id));
  CHECK_OK(mtp_session_cancel(s, 987654321));
  /* The server saw an rpc_drop_answer. */
  long deadline = now_ms() + WAIT_MS;
  int64_t after = before;
  while (after <= before && now_ms() < deadline) {
    sleep_ms(50);
    after = cancelled_count(s);
  }
  CHECK(after > before);
  /* A timed-out request is also dropped on the server. */
  CHECK_OK(mtp_session_invoke(s, req, n, 200, on_invoke, &p, NULL));
  CHECK(latch_wait(&p.done, 2, WAIT_MS));
  CHECK(p.timedout == 1 && p.other == 0);
  latch_destroy(&p.done);
}

/* ---- four threads ----------------------------------------------------- */

typedef struct {
  mtp_session *session;
  int index;
  int errors;
  latch *callbacks;
} worker_arg;

typedef struct {
  char expect[32];
  latch *callbacks;
  int bad;
} echo_check;

static int concurrent_bad = 0;
static pthread_mutex_t concurrent_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_concurrent(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  echo_check *c = (echo_check *)userdata;
  const uint8_t *payload;
  long plen = result == MTP_OK ? tl_parse_payload(data, len, &payload) : -1;
  if (plen != (long)strlen(c->expect) || memcmp(payload, c->expect, (size_t)plen) != 0) {
    pthread_mutex_lock(&concurrent_mu);
    concurrent_bad++;
    pthread_mutex_unlock(&concurrent_mu);
  }
  latch *l = c->callbacks;
  free(c); /* the callback owns its userdata */
  latch_add(l, 1);
}

static void *worker(void *argp) {
  worker_arg *a = (worker_arg *)argp;
  int rounds = 25 * scale;
  for (int i = 0; i < rounds; i++) {
    char text[32];
    snprintf(text, sizeof text, "t%d-%d", a->index, i);
    if (i % 2 == 0) {
      if (!echo_round_trip(a->session, text)) a->errors++;
    } else {
      echo_check *c = (echo_check *)malloc(sizeof *c);
      snprintf(c->expect, sizeof c->expect, "%s", text);
      c->callbacks = a->callbacks;
      uint8_t req[64];
      size_t n = tl_echo(req, (const uint8_t *)text, strlen(text));
      if (mtp_session_invoke(a->session, req, n, 0, on_concurrent, c, NULL) != MTP_OK) {
        free(c);
        a->errors++;
        latch_add(a->callbacks, 1);
      }
    }
  }
  return NULL;
}

static void test_four_threads_invoke_concurrently(mtp_session *s) {
  latch callbacks;
  latch_init(&callbacks);
  pthread_t threads[4];
  worker_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i].session = s;
    args[i].index = i;
    args[i].errors = 0;
    args[i].callbacks = &callbacks;
    pthread_create(&threads[i], NULL, worker, &args[i]);
  }
  int errors = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    errors += args[i].errors;
  }
  long expected = 4L * ((25 * scale) / 2);
  CHECK(latch_wait(&callbacks, expected, WAIT_MS));
  CHECK(errors == 0);
  CHECK(concurrent_bad == 0);
  latch_destroy(&callbacks);
}

/* ---- updates ---------------------------------------------------------- */

typedef struct {
  latch received;
  pthread_mutex_t mu;
  long next_seq;
  int out_of_order;
  int batches;
  int released;
} update_probe;

static void on_updates(void *userdata, const mtp_bytes *updates, size_t count) {
  update_probe *u = (update_probe *)userdata;
  pthread_mutex_lock(&u->mu);
  u->batches++;
  for (size_t i = 0; i < count; i++) {
    long seq = tl_parse_update_seq(updates[i].data, updates[i].len);
    if (seq != u->next_seq) u->out_of_order++;
    u->next_seq = seq + 1;
  }
  pthread_mutex_unlock(&u->mu);
  latch_add(&u->received, (long)count);
}

static void on_release(void *userdata) {
  update_probe *u = (update_probe *)userdata;
  pthread_mutex_lock(&u->mu);
  u->released++;
  pthread_mutex_unlock(&u->mu);
}

static void push_updates(mtp_session *s, int count, int size) {
  uint8_t req[16];
  size_t n = tl_push_updates(req, count, size);
  mtp_buffer *out = blocking(s, req, n, MTP_OK);
  if (out) {
    const uint8_t *data;
    size_t len;
    CHECK_OK(mtp_buffer_data(out, &data, &len));
    CHECK(len == 4 && tl_u32(data) == TL_BOOL_TRUE);
    mtp_buffer_free(out);
  }
}

static void test_updates_callback_gets_every_update_in_order_and_release_runs(mtp_session *s) {
  update_probe u;
  memset(&u, 0, sizeof u);
  latch_init(&u.received);
  pthread_mutex_init(&u.mu, NULL);
  u.next_seq = 1;
  CHECK_OK(mtp_session_set_updates_callback(s, on_updates, &u, on_release));
  int count = 100 * scale;
  push_updates(s, count, 16);
  CHECK(latch_wait(&u.received, count, WAIT_MS));
  CHECK(latch_get(&u.received) == count);
  CHECK(u.out_of_order == 0);
  CHECK(u.batches >= 1 && u.batches <= count);
  /* Clearing drops the registration: release runs exactly once. */
  CHECK_OK(mtp_session_set_updates_callback(s, NULL, NULL, NULL));
  CHECK(latch_wait(&u.received, count, 10));
  long deadline = now_ms() + WAIT_MS;
  while (now_ms() < deadline) {
    pthread_mutex_lock(&u.mu);
    int r = u.released;
    pthread_mutex_unlock(&u.mu);
    if (r) break;
    sleep_ms(5);
  }
  CHECK(u.released == 1);
  /* A NULL callback with a release function releases at once. */
  CHECK_OK(mtp_session_set_updates_callback(s, NULL, &u, on_release));
  CHECK(u.released == 2);
  pthread_mutex_destroy(&u.mu);
  latch_destroy(&u.received);
}

/* S-17: when the server forgets the session, MTP_GAP_MARKER_ID arrives in
 * the pulled stream after the updates before it and before the ones after. */
static void test_gap_marker_when_the_server_forgets_the_session(mtp_runtime *rt) {
  mtp_session *s = open_session(rt);
  push_updates(s, 2, 4);
  uint8_t req[16];
  size_t n = tl_forget_session(req);
  mtp_buffer *out = blocking(s, req, n, MTP_OK);
  if (out) mtp_buffer_free(out);
  push_updates(s, 1, 4);
  uint32_t firsts[4] = {0};
  long seqs[4] = {0};
  size_t got = 0;
  long deadline = now_ms() + WAIT_MS;
  while (got < 4 && now_ms() < deadline) {
    mtp_update_batch *batch = NULL;
    mtp_result rc = mtp_session_next_updates(s, 16, 1000, &batch);
    if (rc == MTP_ERR_TIMEOUT) continue;
    CHECK_OK(rc);
    if (rc != MTP_OK) break;
    size_t count = 0;
    CHECK_OK(mtp_update_batch_count(batch, &count));
    for (size_t i = 0; i < count && got < 4; i++, got++) {
      const uint8_t *data;
      size_t len;
      CHECK_OK(mtp_update_batch_get(batch, i, &data, &len));
      CHECK(len >= 4);
      firsts[got] = tl_u32(data);
      seqs[got] = tl_parse_update_seq(data, len);
    }
    mtp_update_batch_free(batch);
  }
  CHECK(got == 4);
  CHECK(seqs[0] == 1 && seqs[1] == 2);
  CHECK(firsts[2] == MTP_GAP_MARKER_ID);
  CHECK(seqs[3] == 1);
  CHECK_OK(mtp_session_free(s));
}

/* M-10, S-24: test.counterSlow cuts the connection after the query ran and
 * after its answer left the server: each call still answers 1, once. */
static void test_cuts_after_run_and_after_answer_run_once(mtp_session *s) {
  for (int i = 0; i < 4; i++) {
    char key[64];
    snprintf(key, sizeof key, "c-cut-%d-%ld", i, now_ms());
    uint8_t req[128];
    size_t n = tl_counter_slow(req, key, (i % 2) * 50, 1 + i % 2);
    mtp_buffer *out = blocking(s, req, n, MTP_OK);
    if (!out) continue;
    const uint8_t *data;
    size_t len;
    CHECK_OK(mtp_buffer_data(out, &data, &len));
    int64_t value = 0;
    CHECK(tl_parse_count(data, len, &value));
    CHECK(value == 1);
    mtp_buffer_free(out);
  }
}

static void test_pulled_updates_come_in_batches_and_time_out_when_idle(mtp_session *s) {
  mtp_update_batch *batch = (mtp_update_batch *)0x1;
  CHECK_RC(mtp_session_next_updates(s, 0, 0, &batch), MTP_ERR_TIMEOUT);
  CHECK(batch == NULL);
  CHECK_RC(mtp_session_next_updates(s, 0, 50, &batch), MTP_ERR_TIMEOUT);
  int count = 20 * scale;
  push_updates(s, count, 8);
  long got = 0, next_seq = 1;
  int bad = 0;
  long deadline = now_ms() + WAIT_MS;
  while (got < count && now_ms() < deadline) {
    mtp_result rc = mtp_session_next_updates(s, 7, 1000, &batch);
    if (rc == MTP_ERR_TIMEOUT) continue;
    CHECK_OK(rc);
    if (rc != MTP_OK) break;
    size_t n = 0;
    CHECK_OK(mtp_update_batch_count(batch, &n));
    CHECK(n >= 1 && n <= 7);
    for (size_t i = 0; i < n; i++) {
      const uint8_t *data;
      size_t len;
      CHECK_OK(mtp_update_batch_get(batch, i, &data, &len));
      long seq = tl_parse_update_seq(data, len);
      if (seq != next_seq) bad++;
      next_seq = seq + 1;
      CHECK(len == 4 + 4 + 12); /* id, seq, 8 bytes as TL bytes (1 + 8 + 3 padding) */
    }
    const uint8_t *data;
    size_t len;
    CHECK_RC(mtp_update_batch_get(batch, n, &data, &len), MTP_ERR_INVALID_INPUT);
    CHECK_RC(mtp_update_batch_get(batch, 0, NULL, &len), MTP_ERR_NULL_ARGUMENT);
    CHECK_RC(mtp_update_batch_count(batch, NULL), MTP_ERR_NULL_ARGUMENT);
    got += (long)n;
    CHECK_OK(mtp_update_batch_free(batch));
    CHECK_RC(mtp_update_batch_free(batch), MTP_ERR_INVALID_HANDLE);
    CHECK_RC(mtp_update_batch_count(batch, &n), MTP_ERR_INVALID_HANDLE);
  }
  CHECK(got == count);
  CHECK(bad == 0);
  CHECK_RC(mtp_update_batch_free(NULL), MTP_ERR_NULL_ARGUMENT);
  CHECK_RC(mtp_update_batch_get(NULL, 0, NULL, NULL), MTP_ERR_NULL_ARGUMENT);
}

/* ---- state ------------------------------------------------------------ */

typedef struct {
  latch connected;
  latch closed;
  int released;
} state_probe;

static void on_state(void *userdata, mtp_state state, uint64_t delay_ms) {
  state_probe *p = (state_probe *)userdata;
  (void)delay_ms;
  if (state == MTP_STATE_CONNECTED) latch_add(&p->connected, 1);
  if (state == MTP_STATE_CLOSED) latch_add(&p->closed, 1);
}

static void on_state_release(void *userdata) { ((state_probe *)userdata)->released++; }

static void test_state_callback_sees_connected_then_closed_and_closed_sessions_refuse_calls(
    mtp_runtime *rt) {
  state_probe p;
  memset(&p, 0, sizeof p);
  latch_init(&p.connected);
  latch_init(&p.closed);
  mtp_session *s = open_session(rt);
  CHECK_OK(mtp_session_set_state_callback(s, on_state, &p, on_state_release));
  CHECK(latch_wait(&p.connected, 1, WAIT_MS));

  /* Pending requests end with CLOSED, each callback exactly once. */
  invoke_probe ip;
  probe_init(&ip);
  uint8_t req[16];
  size_t n = tl_sleep(req, 20000);
  for (int i = 0; i < 3; i++) CHECK_OK(mtp_session_invoke(s, req, n, 30000, on_invoke, &ip, NULL));
  sleep_ms(100);
  CHECK_OK(mtp_session_close(s));
  CHECK_OK(mtp_session_close(s)); /* idempotent */
  CHECK(latch_wait(&ip.done, 3, WAIT_MS));
  CHECK(latch_wait(&p.closed, 1, WAIT_MS));
  sleep_ms(50);
  CHECK(ip.closed == 3 && latch_get(&ip.done) == 3);

  /* Every call on a closed session says CLOSED. */
  mtp_buffer *out = NULL;
  mtp_update_batch *batch = NULL;
  CHECK_RC(mtp_session_invoke_blocking(s, req, n, 0, &out), MTP_ERR_CLOSED);
  CHECK_RC(mtp_session_invoke(s, req, n, 0, on_invoke, &ip, NULL), MTP_ERR_CLOSED);
  CHECK_RC(mtp_session_cancel(s, 1), MTP_ERR_CLOSED);
  CHECK_RC(mtp_session_next_updates(s, 0, 1000, &batch), MTP_ERR_CLOSED);
  CHECK_RC(mtp_session_set_updates_callback(s, on_updates, NULL, NULL), MTP_ERR_CLOSED);
  CHECK_RC(mtp_session_set_state_callback(s, on_state, &p, NULL), MTP_ERR_CLOSED);
  sleep_ms(50);
  CHECK(latch_get(&ip.done) == 3);
  CHECK_OK(mtp_session_free(s));
  CHECK(p.released == 1);
  latch_destroy(&ip.done);
  latch_destroy(&p.connected);
  latch_destroy(&p.closed);
}

/* ---- re-entrancy ------------------------------------------------------ */

typedef struct {
  mtp_session *session;
  latch done;
  int step;
  int inner_rc;
  int blocking_rc;
  int free_rc;
} chain;

static void on_chain(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  chain *c = (chain *)userdata;
  (void)data;
  (void)len;
  c->step++;
  if (c->step == 1) {
    /* From inside a completion callback: a blocking call (blocks only the
     * dispatcher), then a new request with a callback. */
    uint8_t req[64];
    size_t n = tl_echo(req, (const uint8_t *)"inner", 5);
    mtp_buffer *out = NULL;
    c->blocking_rc = mtp_session_invoke_blocking(c->session, req, n, 10000, &out);
    if (out) mtp_buffer_free(out);
    c->inner_rc = mtp_session_invoke(c->session, req, n, 0, on_chain, c, NULL);
    if (result != MTP_OK) c->inner_rc = -1;
  } else {
    /* The second completion frees its own session. */
    c->free_rc = mtp_session_free(c->session);
    latch_add(&c->done, 1);
  }
}

static void on_updates_free_session(void *userdata, const mtp_bytes *updates, size_t count) {
  chain *c = (chain *)userdata;
  (void)updates;
  (void)count;
  if (c->step++ == 0) {
    c->free_rc = mtp_session_free(c->session);
    latch_add(&c->done, 1);
  }
}

static void test_callbacks_may_call_back_in_and_free_their_own_session(mtp_runtime *rt) {
  chain c;
  memset(&c, 0, sizeof c);
  latch_init(&c.done);
  c.session = open_session(rt);
  uint8_t req[64];
  size_t n = tl_echo(req, (const uint8_t *)"outer", 5);
  CHECK_OK(mtp_session_invoke(c.session, req, n, 0, on_chain, &c, NULL));
  CHECK(latch_wait(&c.done, 1, WAIT_MS));
  CHECK(c.step == 2);
  CHECK(c.blocking_rc == MTP_OK);
  CHECK(c.inner_rc == MTP_OK);
  CHECK(c.free_rc == MTP_OK);
  CHECK_RC(mtp_session_free(c.session), MTP_ERR_INVALID_HANDLE);
  latch_destroy(&c.done);

  /* An updates callback that frees its session. */
  memset(&c, 0, sizeof c);
  latch_init(&c.done);
  c.session = open_session(rt);
  CHECK_OK(mtp_session_set_updates_callback(c.session, on_updates_free_session, &c, NULL));
  push_updates(c.session, 5, 4);
  CHECK(latch_wait(&c.done, 1, WAIT_MS));
  CHECK(c.free_rc == MTP_OK);
  latch_destroy(&c.done);
}

/* ---- runtime free with live sessions --------------------------------- */

static void test_runtime_free_ends_pending_requests_and_closes_its_sessions(void) {
  mtp_runtime *rt = NULL;
  CHECK_OK(mtp_runtime_new(&rt));
  mtp_session *s = open_session(rt);
  CHECK(echo_round_trip(s, "before runtime free"));
  invoke_probe p;
  probe_init(&p);
  uint8_t req[16];
  size_t n = tl_sleep(req, 20000);
  CHECK_OK(mtp_session_invoke(s, req, n, 30000, on_invoke, &p, NULL));
  CHECK_OK(mtp_session_invoke(s, req, n, 30000, on_invoke, &p, NULL));
  sleep_ms(100);
  CHECK_OK(mtp_runtime_free(rt));
  /* Joined: every callback already ran. */
  CHECK(latch_get(&p.done) == 2 && p.closed == 2);
  mtp_buffer *out = NULL;
  CHECK_RC(mtp_session_invoke_blocking(s, req, n, 1000, &out), MTP_ERR_CLOSED);
  CHECK_OK(mtp_session_free(s));
  latch_destroy(&p.done);
}

/* ---- runtime freed from its own callback ----------------------------- */

typedef struct {
  mtp_runtime *runtime;
  latch done;
  int free_rc;
} runtime_killer;

static void on_free_runtime(void *userdata, mtp_result result, const uint8_t *data, size_t len) {
  runtime_killer *k = (runtime_killer *)userdata;
  (void)result;
  (void)data;
  (void)len;
  /* Runs on this runtime's dispatcher thread: must not wait for itself. */
  k->free_rc = mtp_runtime_free(k->runtime);
  latch_add(&k->done, 1);
}

static void test_a_callback_may_free_its_own_runtime(void) {
  runtime_killer k;
  memset(&k, 0, sizeof k);
  latch_init(&k.done);
  CHECK_OK(mtp_runtime_new(&k.runtime));
  mtp_session *s = open_session(k.runtime);
  uint8_t req[64];
  size_t n = tl_echo(req, (const uint8_t *)"bye", 3);
  CHECK_OK(mtp_session_invoke(s, req, n, 0, on_free_runtime, &k, NULL));
  CHECK(latch_wait(&k.done, 1, WAIT_MS));
  CHECK(k.free_rc == MTP_OK);
  CHECK_RC(mtp_runtime_free(k.runtime), MTP_ERR_INVALID_HANDLE);
  mtp_buffer *out = NULL;
  CHECK_RC(mtp_session_invoke_blocking(s, req, n, 1000, &out), MTP_ERR_CLOSED);
  CHECK_OK(mtp_session_free(s));
  /* The dispatcher thread ends on its own once the callback returned. */
  sleep_ms(200);
  latch_destroy(&k.done);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s LOCALDC_BIN WORK_DIR TEST_TL\n", argv[0]);
    return 2;
  }
  const char *env = getenv("MTP_TEST_SCALE");
  if (env && atoi(env) > 0) scale = atoi(env);
  work_dir = argv[2];
  snprintf(store_path, sizeof store_path, "%s/c-test-store.db", work_dir);
  test_tl = read_file(argv[3], &test_tl_len);
  if (!test_tl) {
    fprintf(stderr, "cannot read %s\n", argv[3]);
    return 2;
  }
  if (!localdc_start(&dc, argv[1], work_dir)) {
    fprintf(stderr, "cannot start localdc %s\n", argv[1]);
    free(test_tl);
    return 2;
  }
  printf("localdc at %s, scale %d\n", dc.address, scale);

#define RUN(call)                           \
  do {                                      \
    int before_ = harness_failures;         \
    long t_ = now_ms();                     \
    call;                                   \
    printf("%s %-90s %5ld ms\n", harness_failures == before_ ? "ok  " : "FAIL", #call, \
           now_ms() - t_);                  \
    fflush(stdout);                         \
  } while (0)

  RUN(test_version_result_names_and_last_error_slot());
  RUN(test_null_garbage_foreign_and_double_freed_handles_are_errors());
  RUN(test_bad_config_values_are_refused_with_a_message());
  RUN(test_codec_round_trips_and_rejects_bad_schema_json_and_bytes());
  RUN(test_telegram_schema_encodes_get_config_and_decodes_a_config());

  mtp_runtime *rt = NULL;
  CHECK_OK(mtp_runtime_new(&rt));
  mtp_session *s = open_session(rt);
  RUN(test_blocking_invoke_answers_errors_and_times_out(s));
  RUN(test_invoke_callbacks_get_userdata_results_and_errors_off_the_caller_thread(s));
  RUN(test_wrong_lengths_are_refused_before_memory_is_read(s));
  RUN(test_cancel_ends_the_request_and_reaches_the_server(s));
  RUN(test_four_threads_invoke_concurrently(s));
  RUN(test_updates_callback_gets_every_update_in_order_and_release_runs(s));
  RUN(test_pulled_updates_come_in_batches_and_time_out_when_idle(s));
  RUN(test_gap_marker_when_the_server_forgets_the_session(rt));
  RUN(test_cuts_after_run_and_after_answer_run_once(s));
  RUN(test_state_callback_sees_connected_then_closed_and_closed_sessions_refuse_calls(rt));
  RUN(test_callbacks_may_call_back_in_and_free_their_own_session(rt));
  RUN(test_log_callback_gets_core_records_on_its_own_thread(rt));
  CHECK_OK(mtp_session_free(s));
  CHECK_OK(mtp_runtime_free(rt));
  RUN(test_runtime_free_ends_pending_requests_and_closes_its_sessions());
  RUN(test_a_callback_may_free_its_own_runtime());

  localdc_stop(&dc);
  free(test_tl);
  if (harness_failures) {
    printf("%d check(s) failed\n", harness_failures);
    return 1;
  }
  printf("all C tests passed\n");
  return 0;
}
