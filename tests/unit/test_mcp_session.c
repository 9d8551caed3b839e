/* test_mcp_session.c - what a handler sends a client on the way and what
 * a client's own messages do to a running session, through the public
 * session API (mcp_session_new/accept, mcp_job_run/free): progress and log
 * notifications, cancellation of queued and running requests, the
 * server's own requests (sampling) and their answers, errors, timeouts and
 * a session ending under them, content blocks, prompt messages,
 * completion/complete, resource subscriptions across two sessions, tool
 * statistics, blob resources, and the stdio transport with a client on the
 * other end of two pipes.
 *
 * Every message the server sends on the way goes to a recording mcp_out
 * (rec); a request that must run while the test acts as the client runs on
 * a thread (runner). Waits are bounded by condition variables with
 * deadlines, and every fixture handler that loops has a safety limit, so a
 * regression fails a test instead of hanging the suite. The tools here are
 * fixtures, not pipemend's. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/log.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"

/* A spinning fixture tool gives up after this long even if nothing stops
 * it, so that a broken cancellation fails a test rather than hangs it. */
#define SPIN_SAFETY_MS 3000
/* How long the test waits for something that should happen at once. */
#define PROMPT_MS 2000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct timespec deadline_in(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* ---- JSON helpers ------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("not JSON: %s (%s)", text, je.text);
    return v;
}

/* The value at a dotted path ("result.content.0.text"; numbers index
 * arrays), borrowed from v; NULL when some step is missing. */
static json_t *at(json_t *v, const char *path)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(k, &end, 10);
            v = *end ? NULL : json_array_get(v, i);
        } else {
            v = json_object_get(v, k);
        }
    }
    return v;
}

static const char *str_at(json_t *v, const char *path)
{
    return json_string_value(at(v, path));
}

static void assert_json_equal(json_t *got, const char *want_text)
{
    json_t *want = parse(want_text);
    if (!json_equal(got, want)) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", g ? g : "(nothing)", w);
        free(g);
        free(w);
        json_decref(want);
        fail_msg("JSON differs");
    }
    json_decref(want);
}

/* ---- a recording mcp_out ------------------------------------------------------ */

/* Keeps every message sent to it, parsed, in order; any thread may send. */
typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *msgs; /* array, owned */
    int bad;      /* messages that were not one line of JSON */
    mcp_out out;  /* send/arg point at this rec */
} rec;

static pm_code rec_send(void *arg, const char *msg, size_t len)
{
    rec *r = arg;
    json_t *v = json_loadb(msg, len, 0, NULL);
    pthread_mutex_lock(&r->mu);
    if (!v || memchr(msg, '\n', len)) {
        r->bad++;
        json_decref(v);
    } else {
        json_array_append_new(r->msgs, v);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return PM_OK;
}

static void rec_init(rec *r)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->msgs = json_array();
    r->bad = 0;
    r->out = (mcp_out){rec_send, r, NULL};
}

static void rec_free(rec *r)
{
    assert_int_equal(r->bad, 0);
    json_decref(r->msgs);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

/* A copy of everything recorded so far (caller owns). */
static json_t *rec_all(rec *r)
{
    pthread_mutex_lock(&r->mu);
    json_t *a = json_deep_copy(r->msgs);
    pthread_mutex_unlock(&r->mu);
    return a;
}

static size_t rec_count(rec *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = json_array_size(r->msgs);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The first recorded message with this method, waiting up to ms for it
 * (caller owns; NULL when none came). */
static json_t *rec_wait(rec *r, const char *method, int ms)
{
    struct timespec until = deadline_in(ms);
    json_t *found = NULL;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        size_t i;
        json_t *m;
        json_array_foreach(r->msgs, i, m)
        {
            const char *mm = json_string_value(json_object_get(m, "method"));
            if (mm && strcmp(mm, method) == 0) {
                found = json_deep_copy(m);
                break;
            }
        }
        if (found || pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* ---- fixtures ------------------------------------------------------------------ */

/* What the fixture handlers tell the test (they run on other threads, where
 * cmocka's assertions must not be used). */
typedef struct fixture {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;       /* handler entries */
    bool spinning;   /* spin: in its loop */
    bool spin_done;  /* spin: left it */
    bool saw_cancel; /* spin: mcp_call_cancelled() turned true */
    double spin_ms;  /* spin: how long it spun */
} fixture;

static fixture fx = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int reset_fixture(void **state)
{
    pthread_mutex_lock(&fx.mu);
    fx.calls = 0;
    fx.spinning = fx.spin_done = fx.saw_cancel = false;
    fx.spin_ms = 0;
    pthread_mutex_unlock(&fx.mu);
    return 0;
}

static void fx_called(void)
{
    pthread_mutex_lock(&fx.mu);
    fx.calls++;
    pthread_mutex_unlock(&fx.mu);
}

static int fx_calls(void)
{
    pthread_mutex_lock(&fx.mu);
    int n = fx.calls;
    pthread_mutex_unlock(&fx.mu);
    return n;
}

static bool wait_spinning(int ms)
{
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&fx.mu);
    while (!fx.spinning && pthread_cond_timedwait(&fx.cv, &fx.mu, &until) != ETIMEDOUT)
        ;
    bool s = fx.spinning;
    pthread_mutex_unlock(&fx.mu);
    return s;
}

static json_t *ok_call(void *ctx, json_t *args, mcp_call *call)
{
    fx_called();
    return json_object();
}

static json_t *progress_call(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_progress(call, 1, 3, "one");
    mcp_call_progress(call, 2, 3, "two");
    mcp_call_progress(call, 3, 3, "three");
    return json_pack("{s:i}", "steps", 3);
}

/* No total known, no message. */
static json_t *progress_open_call(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_progress(call, 0.5, 0, NULL);
    mcp_call_progress(call, 0.75, -1, NULL);
    return json_object();
}

/* One message at every level, in order; the lowest without logger or
 * data, then one formatted. */
static json_t *log_call(void *ctx, json_t *args, mcp_call *call)
{
    for (int i = MCP_LOG_DEBUG; i <= MCP_LOG_EMERGENCY; i++)
        mcp_call_log(call, (mcp_log_level)i, i == MCP_LOG_DEBUG ? NULL : "fixture",
                     i == MCP_LOG_DEBUG ? NULL : json_pack("{s:i}", "n", i));
    mcp_call_logf(call, MCP_LOG_ERROR, "fixture", "table %s is gone", "orders");
    return json_object();
}

/* Spins until the client cancels (or SPIN_SAFETY_MS pass), saying so in a
 * log message first, so that a client on the wire knows when it runs. */
static json_t *spin_call(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_logf(call, MCP_LOG_INFO, "spin", "spinning");
    double t0 = now_ms();
    json_int_t limit = json_integer_value(json_object_get(args, "limit_ms"));
    if (limit <= 0)
        limit = SPIN_SAFETY_MS;
    pthread_mutex_lock(&fx.mu);
    fx.calls++;
    fx.spinning = true;
    pthread_cond_broadcast(&fx.cv);
    pthread_mutex_unlock(&fx.mu);
    bool cancelled = false;
    while (!(cancelled = mcp_call_cancelled(call)) && now_ms() - t0 < (double)limit)
        sleep_ms(1);
    pthread_mutex_lock(&fx.mu);
    fx.saw_cancel = cancelled;
    fx.spin_done = true;
    fx.spin_ms = now_ms() - t0;
    pthread_cond_broadcast(&fx.cv);
    pthread_mutex_unlock(&fx.mu);
    return json_pack("{s:b}", "cancelled", cancelled);
}

/* Asks the client for a sampling within args.timeout_ms and returns what
 * it made of the answer; on failure mcp_call_request's message stands. */
static json_t *ask_call(void *ctx, json_t *args, mcp_call *call)
{
    fx_called();
    int timeout = (int)json_integer_value(json_object_get(args, "timeout_ms"));
    json_t *params = json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role", "user",
                               "content", "type", "text", "text", "say hello", "maxTokens", 50);
    json_t *res = mcp_call_request(call, "sampling/createMessage", params, timeout);
    if (!res)
        return NULL;
    const char *text = json_string_value(json_object_get(json_object_get(res, "content"), "text"));
    const char *model = json_string_value(json_object_get(res, "model"));
    json_t *out =
        json_pack("{s:s, s:s}", "reply", text ? text : "(none)", "model", model ? model : "(none)");
    json_decref(res);
    return out;
}

static json_t *media_call(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_content(call, json_pack("{s:s, s:s, s:s}", "type", "image", "data",
                                     "iVBORw0KGgo=", "mimeType", "image/png"));
    mcp_call_content(call, json_pack("{s:s, s:s}", "type", "text", "text", "one chart"));
    return json_pack("{s:i}", "images", 1);
}

static json_t *counted_call(void *ctx, json_t *args, mcp_call *call)
{
    if (json_is_true(json_object_get(args, "fail"))) {
        mcp_call_fail(call, "asked to fail");
        return NULL;
    }
    return json_object();
}

/* Fails without a message: a JSON-RPC error, not a tool result. */
static json_t *broken_call(void *ctx, json_t *args, mcp_call *call)
{
    return NULL;
}

#define ANY_ARGS "{\"type\":\"object\"}"
#define RO                                                                                         \
    {                                                                                              \
        .read_only = true, .idempotent = true                                                      \
    }

static const mcp_tool fixture_tools[] = {
    {"ok", NULL, "returns {}", ANY_ARGS, NULL, RO, ok_call},
    {"progress", NULL, "three progress steps", ANY_ARGS, NULL, RO, progress_call},
    {"progress_open", NULL, "progress of no known total", ANY_ARGS, NULL, RO, progress_open_call},
    {"log", NULL, "a log message at every level", ANY_ARGS, NULL, RO, log_call},
    {"spin", NULL, "runs until cancelled", ANY_ARGS, NULL, RO, spin_call},
    {"ask", NULL, "asks the client for a sampling",
     "{\"type\":\"object\",\"required\":[\"timeout_ms\"],"
     "\"properties\":{\"timeout_ms\":{\"type\":\"integer\"}}}",
     NULL, RO, ask_call},
    {"media", NULL, "an image and a text block", ANY_ARGS, NULL, RO, media_call},
    {"media_typed", NULL, "the same with an outputSchema", ANY_ARGS,
     "{\"type\":\"object\",\"required\":[\"images\"],"
     "\"properties\":{\"images\":{\"type\":\"integer\"}}}",
     RO, media_call},
    {"counted", NULL, "fails when asked",
     "{\"type\":\"object\",\"additionalProperties\":false,"
     "\"properties\":{\"fail\":{\"type\":\"boolean\"}}}",
     NULL, RO, counted_call},
    {"broken", NULL, "fails without a word", ANY_ARGS, NULL, RO, broken_call},
};
#define NTOOLS (sizeof fixture_tools / sizeof fixture_tools[0])

static char *blob_read(void *ctx, const char *uri, json_t *vars, mcp_call *call)
{
    return strdup("iVBORw0KGgo=");
}

static char *doc_read(void *ctx, const char *uri, json_t *vars, mcp_call *call)
{
    return strdup("the runbook");
}

static char *table_read(void *ctx, const char *uri, json_t *vars, mcp_call *call)
{
    return strdup(json_string_value(json_object_get(vars, "name")));
}

/* The values of names[] that begin with value. */
static json_t *starting_with(const char *const *names, const char *value)
{
    json_t *a = json_array();
    for (size_t i = 0; names[i]; i++)
        if (strncmp(names[i], value, strlen(value)) == 0)
            json_array_append_new(a, json_string(names[i]));
    return a;
}

static const char *const tables[] = {"orders", "order_items", "customers", NULL};

static json_t *table_complete(void *ctx, const char *arg, const char *value, json_t *context,
                              mcp_call *call)
{
    return strcmp(arg, "name") == 0 ? starting_with(tables, value) : json_array();
}

static const mcp_resource fixture_resources[] = {
    {.uri = "test://blob",
     .name = "blob",
     .mime_type = "image/png",
     .read = blob_read,
     .blob = true},
    {.uri = "test://doc", .name = "doc", .mime_type = "text/plain", .read = doc_read},
    {.uri_template = "test://tables/{name}",
     .name = "table",
     .mime_type = "text/plain",
     .read = table_read,
     .complete = table_complete},
};

/* The prompt's text, then an embedded resource and the assistant's reply. */
static char *review_get(void *ctx, json_t *args, mcp_call *call)
{
    const char *t = json_string_value(json_object_get(args, "table"));
    char uri[100], *text = NULL;
    snprintf(uri, sizeof uri, "test://tables/%s", t);
    mcp_call_message(call, "user",
                     json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource", "uri",
                               uri, "mimeType", "text/plain", "text", "3 columns"));
    mcp_call_message(call, "assistant",
                     json_pack("{s:s, s:s}", "type", "text", "text", "I will look at it"));
    if (asprintf(&text, "Review the drift of table %s", t) < 0)
        return NULL;
    return text;
}

static const char *const columns_of_orders[] = {"order_id", "order_total", "customer_id", NULL};

static json_t *review_complete(void *ctx, const char *arg, const char *value, json_t *context,
                               mcp_call *call)
{
    if (strcmp(arg, "table") == 0)
        return starting_with(tables, value);
    if (strcmp(arg, "column") == 0) {
        const char *t = json_string_value(json_object_get(context, "table"));
        return t && strcmp(t, "orders") == 0 ? starting_with(columns_of_orders, value)
                                             : json_array();
    }
    if (strcmp(arg, "many") == 0) {
        json_t *a = json_array();
        for (int i = 0; i < 150; i++) {
            char v[16];
            snprintf(v, sizeof v, "v%03d", i);
            json_array_append_new(a, json_string(v));
        }
        return a;
    }
    return json_array();
}

/* An empty text: only the message it adds. */
static char *plain_get(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_message(call, "assistant", json_pack("{s:s, s:s}", "type", "text", "text", "hi"));
    return strdup("");
}

static const mcp_prompt fixture_prompts[] = {
    {.name = "review",
     .args = {{"table", "the table", true},
              {"column", "a column", false},
              {"many", "many values", false}},
     .get = review_get,
     .complete = review_complete},
    {.name = "plain", .get = plain_get},
};

static mcp_server *server(void)
{
    mcp_server_info info = {.name = "test", .version = "1.0"};
    mcp_server *s = mcp_server_new(&info);
    assert_non_null(s);
    pm_err err = {0};
    assert_int_equal(mcp_server_add_tools(s, fixture_tools, NTOOLS, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_resources(s, fixture_resources, 3, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_prompts(s, fixture_prompts, 2, NULL, &err), PM_OK);
    return s;
}

/* ---- running messages on a session -------------------------------------------- */

/* Accepts msg, runs its job with notify and frees it: the parsed response,
 * or NULL when nothing was written (or no job was made). */
static json_t *run(mcp_session *ss, const mcp_out *notify, const char *msg)
{
    mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
    if (!j)
        return NULL;
    pm_buf out;
    pm_buf_init(&out, 1 << 20);
    assert_int_equal(mcp_job_run(j, notify, &out), PM_OK);
    mcp_job_free(j);
    json_t *v = out.len ? parse(out.data) : NULL;
    pm_buf_free(&out);
    return v;
}

/* A message that must not make a job (a notification, an answer). */
static void accept_none(mcp_session *ss, const char *msg)
{
    mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
    if (j) {
        mcp_job_free(j);
        fail_msg("a job was made for %s", msg);
    }
}

static json_t *init_session(mcp_session *ss)
{
    json_t *r = run(ss, NULL,
                    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                    "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"sampling\":{}},"
                    "\"clientInfo\":{\"name\":\"tester\",\"version\":\"1\"}}}");
    assert_non_null(at(r, "result.protocolVersion"));
    accept_none(ss, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    return r;
}

static mcp_session *session(mcp_server *s)
{
    mcp_session *ss = mcp_session_new(s);
    assert_non_null(ss);
    json_decref(init_session(ss));
    return ss;
}

/* tools/call of name with id (raw JSON text) and args (JSON text or NULL),
 * plus extra members of params (",\"_meta\":{...}" or ""). */
static char *tool_msg(const char *id, const char *name, const char *args, const char *extra)
{
    char *m = NULL;
    if (asprintf(&m,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"%s\",\"arguments\":%s%s}}",
                 id, name, args ? args : "{}", extra ? extra : "") < 0)
        fail_msg("out of memory");
    return m;
}

static json_t *call_tool(mcp_session *ss, const mcp_out *notify, const char *name, const char *args,
                         const char *extra)
{
    char *m = tool_msg("1", name, args, extra);
    json_t *r = run(ss, notify, m);
    free(m);
    assert_non_null(r);
    return r;
}

static json_t *request(mcp_session *ss, const char *method, const char *params)
{
    char *m = NULL;
    assert_true(asprintf(&m, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"%s\",\"params\":%s}",
                         method, params) >= 0);
    json_t *r = run(ss, NULL, m);
    free(m);
    assert_non_null(r);
    return r;
}

static int error_code(json_t *r)
{
    if (!json_object_get(r, "error")) {
        char *t = json_dumps(r, JSON_COMPACT);
        print_error("response: %s\n", t);
        free(t);
        fail_msg("an error was expected");
    }
    return (int)json_integer_value(at(r, "error.code"));
}

static void cancel_msg(mcp_session *ss, const char *id)
{
    char m[200];
    snprintf(m, sizeof m,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
             "\"params\":{\"requestId\":%s,\"reason\":\"user pressed stop\"}}",
             id);
    accept_none(ss, m);
}

/* A job run on its own thread, while the test is the client. */
typedef struct runner {
    pthread_t th;
    mcp_job *job;
    const mcp_out *notify;
    pm_buf out;
    pm_code rc;
    double started, ended;
} runner;

static void *runner_main(void *arg)
{
    runner *r = arg;
    r->rc = mcp_job_run(r->job, r->notify, &r->out);
    r->ended = now_ms();
    return NULL;
}

static void runner_start(runner *r, mcp_session *ss, const mcp_out *notify, const char *msg)
{
    *r = (runner){.notify = notify};
    r->job = mcp_session_accept(ss, msg, strlen(msg));
    assert_non_null(r->job);
    pm_buf_init(&r->out, 1 << 20);
    r->started = now_ms();
    assert_int_equal(pthread_create(&r->th, NULL, runner_main, r), 0);
}

/* Joins the runner (its handlers are bounded, so this ends) and frees its
 * job: the response it wrote, parsed, or NULL for none. */
static json_t *runner_join(runner *r)
{
    pthread_join(r->th, NULL);
    mcp_job_free(r->job);
    assert_int_equal(r->rc, PM_OK);
    json_t *v = r->out.len ? parse(r->out.data) : NULL;
    pm_buf_free(&r->out);
    return v;
}

/* The text of a tool result's first block, which must be an error. */
static const char *tool_error_text(json_t *r)
{
    if (!json_is_true(at(r, "result.isError"))) {
        char *t = json_dumps(r, JSON_COMPACT);
        print_error("response: %s\n", t);
        free(t);
        fail_msg("an isError result was expected");
    }
    const char *t = str_at(r, "result.content.0.text");
    assert_non_null(t);
    return t;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

/* ---- progress ------------------------------------------------------------------- */

static void expect_progress(json_t *msgs, const char *token)
{
    static const char *const texts[] = {"one", "two", "three"};
    json_t *tok = parse(token);
    assert_int_equal(json_array_size(msgs), 3);
    double last = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_string_equal(str_at(m, "jsonrpc"), "2.0");
        assert_string_equal(str_at(m, "method"), "notifications/progress");
        assert_null(json_object_get(m, "id"));
        json_t *got = at(m, "params.progressToken");
        if (!json_equal(got, tok))
            fail_msg("progressToken is not %s", token);
        double p = json_number_value(at(m, "params.progress"));
        assert_true(p > last);
        last = p;
        assert_true(json_number_value(at(m, "params.total")) == 3.0);
        assert_string_equal(str_at(m, "params.message"), texts[i]);
    }
    json_decref(tok);
}

static void test_progress(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    const char *tokens[] = {"\"tok-1\"", "42"};
    for (size_t k = 0; k < 2; k++) {
        rec r;
        rec_init(&r);
        char meta[100];
        snprintf(meta, sizeof meta, ",\"_meta\":{\"progressToken\":%s}", tokens[k]);
        json_t *res = call_tool(ss, &r.out, "progress", NULL, meta);
        assert_false(json_is_true(at(res, "result.isError")));
        json_decref(res);
        json_t *msgs = rec_all(&r);
        expect_progress(msgs, tokens[k]);
        json_decref(msgs);
        rec_free(&r);
    }
    /* total <= 0: unknown, so none is said; no message: none either */
    rec r;
    rec_init(&r);
    json_decref(
        call_tool(ss, &r.out, "progress_open", NULL, ",\"_meta\":{\"progressToken\":\"t\"}"));
    json_t *msgs = rec_all(&r);
    assert_json_equal(msgs, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":\"t\",\"progress\":0.5}},"
                            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
                            "\"params\":{\"progressToken\":\"t\",\"progress\":0.75}}]");
    json_decref(msgs);
    rec_free(&r);
    /* no token (or one of a type MCP does not allow): nothing is sent */
    const char *none[] = {"", ",\"_meta\":{}", ",\"_meta\":{\"progressToken\":1.5}"};
    for (size_t k = 0; k < 3; k++) {
        rec_init(&r);
        json_t *res = call_tool(ss, &r.out, "progress", NULL, none[k]);
        assert_int_equal(json_integer_value(at(res, "result.structuredContent.steps")), 3);
        json_decref(res);
        assert_int_equal(rec_count(&r), 0);
        rec_free(&r);
    }
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* ---- logging -------------------------------------------------------------------- */

static void test_logging(void **state)
{
    static const char *const levels[] = {"debug", "info",     "notice", "warning",
                                         "error", "critical", "alert",  "emergency"};
    mcp_server *s = server();
    mcp_session *ss = session(s);

    /* before logging/setLevel: every level */
    rec r;
    rec_init(&r);
    json_decref(call_tool(ss, &r.out, "log", NULL, NULL));
    json_t *msgs = rec_all(&r);
    assert_int_equal(json_array_size(msgs), 9);
    for (size_t i = 0; i < 8; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_string_equal(str_at(m, "method"), "notifications/message");
        assert_string_equal(str_at(m, "params.level"), levels[i]);
        if (i == 0) {
            assert_true(json_is_null(at(m, "params.data")));
            assert_null(at(m, "params.logger"));
        } else {
            assert_int_equal(json_integer_value(at(m, "params.data.n")), (json_int_t)i);
            assert_string_equal(str_at(m, "params.logger"), "fixture");
        }
    }
    assert_string_equal(str_at(json_array_get(msgs, 8), "params.data"), "table orders is gone");
    assert_string_equal(str_at(json_array_get(msgs, 8), "params.level"), "error");
    json_decref(msgs);
    rec_free(&r);

    /* warning and above only */
    json_t *res = request(ss, "logging/setLevel", "{\"level\":\"warning\"}");
    assert_json_equal(at(res, "result"), "{}");
    json_decref(res);
    rec_init(&r);
    json_decref(call_tool(ss, &r.out, "log", NULL, NULL));
    msgs = rec_all(&r);
    assert_int_equal(json_array_size(msgs), 6);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(str_at(json_array_get(msgs, i), "params.level"), levels[3 + i]);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        assert_string_not_equal(str_at(m, "params.level"), "info");
        assert_string_not_equal(str_at(m, "params.level"), "debug");
    }
    json_decref(msgs);
    rec_free(&r);

    /* invalid levels are -32602 and leave the level as it was */
    const char *bad[] = {"{\"level\":\"verbose\"}", "{\"level\":3}", "{}",
                         "{\"level\":\"WARNING\"}"};
    for (size_t k = 0; k < 4; k++) {
        res = request(ss, "logging/setLevel", bad[k]);
        assert_int_equal(error_code(res), JSONRPC_INVALID_PARAMS);
        json_decref(res);
    }
    rec_init(&r);
    json_decref(call_tool(ss, &r.out, "log", NULL, NULL));
    assert_int_equal(rec_count(&r), 6);
    rec_free(&r);

    /* the level is the session's: another session still gets everything */
    mcp_session *other = session(s);
    rec_init(&r);
    json_decref(call_tool(other, &r.out, "log", NULL, NULL));
    assert_int_equal(rec_count(&r), 9);
    rec_free(&r);
    mcp_session_free(other);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* ---- cancellation --------------------------------------------------------------- */

static const char *const ids[] = {"\"abc\"", "7"};

/* (a) cancelled after it was accepted, before it ran: nothing at all. */
static void test_cancel_before_run(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    for (size_t k = 0; k < 2; k++) {
        char *msg = tool_msg(ids[k], "ok", NULL, NULL);
        mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
        free(msg);
        assert_non_null(j);
        cancel_msg(ss, ids[k]);
        rec r;
        rec_init(&r);
        pm_buf out;
        pm_buf_init(&out, 1 << 16);
        assert_int_equal(mcp_job_run(j, &r.out, &out), PM_OK);
        mcp_job_free(j);
        if (out.len)
            fail_msg("a cancelled request (id %s) was answered: %s", ids[k], out.data);
        pm_buf_free(&out);
        assert_int_equal(rec_count(&r), 0);
        rec_free(&r);
    }
    assert_int_equal(fx_calls(), 0);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* An integer id beyond 64 bits is a valid id (the server echoes it byte for
 * byte), so a cancellation naming it must reach its request too. */
static void test_cancel_big_integer_id(void **state)
{
    const char *big = "123456789012345678901234567890";
    mcp_server *s = server();
    mcp_session *ss = session(s);
    char *msg = tool_msg(big, "ok", NULL, NULL);
    mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
    free(msg);
    assert_non_null(j);
    cancel_msg(ss, big);
    pm_buf out;
    pm_buf_init(&out, 1 << 16);
    assert_int_equal(mcp_job_run(j, NULL, &out), PM_OK);
    mcp_job_free(j);
    bool answered = out.len > 0;
    if (answered)
        assert_non_null(strstr(out.data, big)); /* the id, echoed exactly */
    pm_buf_free(&out);
    mcp_session_free(ss);
    mcp_server_free(s);
    if (answered)
        fail_msg("BUG (session.c id_is): request %s was answered after the client cancelled it; "
                 "id_is() re-parses the job's raw id without JSON_DECODE_INT_AS_REAL, which fails "
                 "on an integer beyond 64 bits, so no cancellation ever matches such an id",
                 big);
}

/* (b) a running tool sees the cancellation; its response is not sent. */
static void test_cancel_running_tool(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    for (size_t k = 0; k < 2; k++) {
        reset_fixture(NULL);
        rec r;
        rec_init(&r);
        runner rn;
        char *msg = tool_msg(ids[k], "spin", NULL, NULL);
        runner_start(&rn, ss, &r.out, msg);
        free(msg);
        bool spinning = wait_spinning(PROMPT_MS);
        double t0 = now_ms();
        cancel_msg(ss, ids[k]);
        json_t *res = runner_join(&rn);
        assert_true(spinning);
        pthread_mutex_lock(&fx.mu);
        bool saw = fx.saw_cancel;
        pthread_mutex_unlock(&fx.mu);
        if (!saw)
            fail_msg("the tool did not see the cancellation of request %s", ids[k]);
        assert_true(rn.ended - t0 < PROMPT_MS);
        if (res) {
            char *t = json_dumps(res, JSON_COMPACT);
            print_error("response: %s\n", t);
            free(t);
            fail_msg("the response to cancelled request %s was sent", ids[k]);
        }
        /* what the tool sent before the cancellation did go out */
        json_t *logm = rec_wait(&r, "notifications/message", 0);
        assert_non_null(logm);
        json_decref(logm);
        rec_free(&r);
    }
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* (c) initialize cannot be cancelled. */
static void test_cancel_initialize_ignored(void **state)
{
    mcp_server *s = server();
    for (size_t k = 0; k < 2; k++) {
        mcp_session *ss = mcp_session_new(s);
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}",
                 ids[k]);
        mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
        assert_non_null(j);
        cancel_msg(ss, ids[k]);
        pm_buf out;
        pm_buf_init(&out, 1 << 16);
        assert_int_equal(mcp_job_run(j, NULL, &out), PM_OK);
        mcp_job_free(j);
        if (!out.len)
            fail_msg("initialize (id %s) was not answered after a cancellation naming it", ids[k]);
        json_t *r = parse(out.data);
        pm_buf_free(&out);
        assert_string_equal(str_at(r, "result.protocolVersion"), "2025-11-25");
        json_decref(r);
        assert_string_equal(mcp_session_protocol(ss), "2025-11-25");
        mcp_session_free(ss);
    }
    mcp_server_free(s);
}

/* (d) cancellations that name no request of the session change nothing:
 * ids are compared as JSON values, type included. */
static void test_cancel_unknown_harmless(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    const char *others[][4] = {{"\"abcd\"", "\"ab\"", "7", "\"7\""},
                               {"8", "\"7\"", "\"abc\"", "70"}};
    for (size_t k = 0; k < 2; k++) {
        char *msg = tool_msg(ids[k], "ok", NULL, NULL);
        mcp_job *j = mcp_session_accept(ss, msg, strlen(msg));
        free(msg);
        assert_non_null(j);
        for (size_t o = 0; o < 4; o++)
            cancel_msg(ss, others[k][o]);
        /* malformed cancellations */
        accept_none(ss, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}");
        accept_none(ss, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{}}");
        accept_none(ss, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":null}}");
        pm_buf out;
        pm_buf_init(&out, 1 << 16);
        assert_int_equal(mcp_job_run(j, NULL, &out), PM_OK);
        mcp_job_free(j);
        if (!out.len)
            fail_msg("request %s went unanswered after cancellations naming others", ids[k]);
        json_t *r = parse(out.data);
        pm_buf_free(&out);
        json_t *want = parse(ids[k]);
        assert_true(json_equal(json_object_get(r, "id"), want));
        json_decref(want);
        assert_false(json_is_true(at(r, "result.isError")));
        json_decref(r);
    }
    /* a request already answered and freed */
    cancel_msg(ss, "1");
    json_t *r = call_tool(ss, NULL, "ok", NULL, NULL);
    assert_non_null(at(r, "result"));
    json_decref(r);
    assert_int_equal(fx_calls(), 3);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* The client went away (mcp_session_close: end of input, a deleted
 * session): mcp.h promises mcp_call_cancelled() turns true then too. */
/* A transport ending the session for good (HTTP DELETE, shutdown)
 * cancels what runs: the tool sees it and stops early. */
static void test_cancel_all_is_seen(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    runner rn;
    char *msg = tool_msg("1", "spin", NULL, NULL);
    runner_start(&rn, ss, NULL, msg);
    free(msg);
    assert_true(wait_spinning(PROMPT_MS));
    mcp_session_cancel_all(ss);
    json_decref(runner_join(&rn));
    pthread_mutex_lock(&fx.mu);
    bool saw = fx.saw_cancel;
    double ms = fx.spin_ms;
    pthread_mutex_unlock(&fx.mu);
    mcp_session_free(ss);
    mcp_server_free(s);
    assert_true(saw);
    assert_true(ms < SPIN_SAFETY_MS);
}

/* ---- the server's own requests ---------------------------------------------------- */

/* Starts "ask" on a thread and returns the request it sent the client. */
static json_t *start_ask(runner *rn, mcp_session *ss, rec *r, const char *id, int timeout_ms)
{
    char args[64];
    snprintf(args, sizeof args, "{\"timeout_ms\":%d}", timeout_ms);
    char *msg = tool_msg(id, "ask", args, NULL);
    runner_start(rn, ss, &r->out, msg);
    free(msg);
    json_t *req = rec_wait(r, "sampling/createMessage", PROMPT_MS);
    if (!req) {
        mcp_session_close(ss); /* let the tool go */
        json_decref(runner_join(rn));
        fail_msg("no sampling/createMessage request was sent");
    }
    assert_string_equal(str_at(req, "jsonrpc"), "2.0");
    assert_true(json_is_integer(json_object_get(req, "id")));
    assert_string_equal(str_at(at(req, "params.messages.0"), "content.text"), "say hello");
    return req;
}

static void test_request_answered(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    rec r;
    rec_init(&r);
    runner rn;
    json_t *req = start_ask(&rn, ss, &r, "11", 5000);
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    json_decref(req);

    /* answers to other ids, or with the id as a string, are not this one */
    char m[400];
    snprintf(m, sizeof m, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long)id + 100);
    accept_none(ss, m);
    snprintf(m, sizeof m, "{\"jsonrpc\":\"2.0\",\"id\":\"%lld\",\"result\":{}}", (long long)id);
    accept_none(ss, m);
    snprintf(m, sizeof m,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":\"assistant\","
             "\"content\":{\"type\":\"text\",\"text\":\"hello from the model\"},"
             "\"model\":\"test-model\",\"stopReason\":\"endTurn\"}}",
             (long long)id);
    accept_none(ss, m);
    json_t *res = runner_join(&rn);
    assert_non_null(res);
    assert_int_equal(json_integer_value(json_object_get(res, "id")), 11);
    assert_false(json_is_true(at(res, "result.isError")));
    assert_json_equal(at(res, "result.structuredContent"),
                      "{\"reply\":\"hello from the model\",\"model\":\"test-model\"}");
    json_decref(res);
    /* a late, second answer to the same request is harmless */
    accept_none(ss, m);

    /* the next request has another id */
    rec r2;
    rec_init(&r2);
    json_t *req2 = start_ask(&rn, ss, &r2, "12", 5000);
    json_int_t id2 = json_integer_value(json_object_get(req2, "id"));
    json_decref(req2);
    assert_true(id2 != id);
    snprintf(m, sizeof m,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"role\":\"assistant\","
             "\"content\":{\"type\":\"text\",\"text\":\"again\"},\"model\":\"m2\"}}",
             (long long)id2);
    accept_none(ss, m);
    res = runner_join(&rn);
    assert_string_equal(str_at(res, "result.structuredContent.reply"), "again");
    json_decref(res);
    rec_free(&r2);
    rec_free(&r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_request_error_answer(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    rec r;
    rec_init(&r);
    runner rn;
    json_t *req = start_ask(&rn, ss, &r, "\"q\"", 5000);
    char m[300];
    snprintf(m, sizeof m,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-1,"
             "\"message\":\"user rejected sampling\"}}",
             (long long)json_integer_value(json_object_get(req, "id")));
    json_decref(req);
    accept_none(ss, m);
    json_t *res = runner_join(&rn);
    assert_non_null(res);
    const char *text = tool_error_text(res);
    assert_contains(text, "user rejected sampling");
    assert_contains(text, "sampling/createMessage");
    json_decref(res);
    rec_free(&r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_request_timeout(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    rec r;
    rec_init(&r);
    double t0 = now_ms();
    json_t *res = call_tool(ss, &r.out, "ask", "{\"timeout_ms\":200}", NULL);
    double ms = now_ms() - t0;
    assert_contains(tool_error_text(res), "did not answer");
    json_decref(res);
    assert_true(ms >= 150 && ms < PROMPT_MS);
    json_t *req = rec_wait(&r, "sampling/createMessage", 0);
    assert_non_null(req);
    /* the answer that comes too late finds no one waiting */
    char m[200];
    snprintf(m, sizeof m, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)json_integer_value(json_object_get(req, "id")));
    json_decref(req);
    accept_none(ss, m);
    /* 0 ms: no wait at all */
    t0 = now_ms();
    res = call_tool(ss, &r.out, "ask", "{\"timeout_ms\":0}", NULL);
    assert_true(now_ms() - t0 < PROMPT_MS);
    assert_contains(tool_error_text(res), "did not answer");
    json_decref(res);
    rec_free(&r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* A negative timeout is a handler's mistake, but it must not hang the
 * session: it waits no time at all, like 0. Run in a child process with an
 * alarm, since the failure is a thread spinning forever with the session's
 * mutex held. */
static void test_request_negative_timeout(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(3);
        mcp_server *s = server();
        mcp_session *ss = session(s);
        rec r;
        rec_init(&r);
        /* -999 ms puts tv_nsec below 0 unless the clock's own nanoseconds
         * are over 999000000: three tries make a lucky pass negligible */
        for (int i = 0; i < 3; i++) {
            json_t *res = call_tool(ss, &r.out, "ask", "{\"timeout_ms\":-999}", NULL);
            const char *t = str_at(res, "result.content.0.text");
            if (!t || !strstr(t, "did not answer"))
                _exit(1);
            json_decref(res);
        }
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        fail_msg("BUG (session.c mcp_call_request): with timeout_ms -999 the deadline's tv_nsec "
                 "is negative, pthread_cond_timedwait() returns EINVAL at once without releasing "
                 "the session's mutex, and the wait loop spins on it for ever (still spinning "
                 "after 3 s): nothing else can lock the session, not even mcp_session_close()");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_request_session_closed(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    rec r;
    rec_init(&r);
    runner rn;
    json_decref(start_ask(&rn, ss, &r, "5", 20000));
    double t0 = now_ms();
    mcp_session_close(ss);
    json_t *res = runner_join(&rn);
    assert_true(rn.ended - t0 < PROMPT_MS);
    assert_non_null(res);
    assert_contains(tool_error_text(res), "session ended");
    json_decref(res);
    rec_free(&r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_request_cancelled_while_waiting(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    rec r;
    rec_init(&r);
    runner rn;
    json_decref(start_ask(&rn, ss, &r, "\"abc\"", 20000));
    double t0 = now_ms();
    cancel_msg(ss, "\"abc\"");
    json_t *res = runner_join(&rn);
    assert_true(rn.ended - t0 < PROMPT_MS);
    if (res)
        fail_msg("the cancelled call was answered");
    rec_free(&r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_request_without_notify(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    double t0 = now_ms();
    json_t *res = call_tool(ss, NULL, "ask", "{\"timeout_ms\":20000}", NULL);
    assert_true(now_ms() - t0 < PROMPT_MS);
    const char *text = tool_error_text(res);
    assert_contains(text, "sampling/createMessage");
    assert_contains(text, "cannot carry a request");
    json_decref(res);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* ---- content blocks, prompt messages --------------------------------------------- */

#define MEDIA_BLOCKS                                                                               \
    "[{\"type\":\"image\",\"data\":\"iVBORw0KGgo=\",\"mimeType\":\"image/png\"},"                  \
    "{\"type\":\"text\",\"text\":\"one chart\"}]"

static void test_content_blocks(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    json_t *r = call_tool(ss, NULL, "media", NULL, NULL);
    assert_json_equal(at(r, "result.content"), MEDIA_BLOCKS);
    assert_null(at(r, "result.structuredContent"));
    assert_false(json_is_true(at(r, "result.isError")));
    json_decref(r);

    r = call_tool(ss, NULL, "media_typed", NULL, NULL);
    assert_json_equal(at(r, "result.content"), MEDIA_BLOCKS);
    assert_json_equal(at(r, "result.structuredContent"), "{\"images\":1}");
    json_decref(r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_prompt_messages(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    json_t *r =
        request(ss, "prompts/get", "{\"name\":\"review\",\"arguments\":{\"table\":\"orders\"}}");
    assert_json_equal(
        at(r, "result.messages"),
        "[{\"role\":\"user\",\"content\":{\"type\":\"text\","
        "\"text\":\"Review the drift of table orders\"}},"
        "{\"role\":\"user\",\"content\":{\"type\":\"resource\",\"resource\":{"
        "\"uri\":\"test://tables/orders\",\"mimeType\":\"text/plain\",\"text\":\"3 columns\"}}},"
        "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"I will look at it\"}}]");
    json_decref(r);
    /* an empty text makes no message of its own */
    r = request(ss, "prompts/get", "{\"name\":\"plain\"}");
    assert_json_equal(at(r, "result.messages"),
                      "[{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"hi\"}}]");
    json_decref(r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* ---- completion/complete ---------------------------------------------------------- */

static json_t *complete(mcp_session *ss, const char *ref, const char *arg, const char *value,
                        const char *context)
{
    char p[600];
    snprintf(p, sizeof p, "{\"ref\":%s,\"argument\":{\"name\":\"%s\",\"value\":\"%s\"}%s%s}", ref,
             arg, value, context ? ",\"context\":" : "", context ? context : "");
    return request(ss, "completion/complete", p);
}

static void expect_completion(json_t *r, const char *values, json_int_t total, bool more)
{
    assert_json_equal(at(r, "result.completion.values"), values);
    assert_int_equal(json_integer_value(at(r, "result.completion.total")), total);
    assert_true(json_is_boolean(at(r, "result.completion.hasMore")));
    assert_int_equal(json_is_true(at(r, "result.completion.hasMore")), more);
    json_decref(r);
}

static void test_completion(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    const char *review = "{\"type\":\"ref/prompt\",\"name\":\"review\"}";
    expect_completion(complete(ss, review, "table", "ord", NULL), "[\"orders\",\"order_items\"]", 2,
                      false);
    expect_completion(complete(ss, review, "table", "", NULL),
                      "[\"orders\",\"order_items\",\"customers\"]", 3, false);
    expect_completion(complete(ss, review, "table", "zzz", NULL), "[]", 0, false);
    /* the other arguments already given reach the callback */
    expect_completion(
        complete(ss, review, "column", "order", "{\"arguments\":{\"table\":\"orders\"}}"),
        "[\"order_id\",\"order_total\"]", 2, false);
    expect_completion(complete(ss, review, "column", "order", NULL), "[]", 0, false);

    /* 150 values: the first 100, the total, and more to come */
    json_t *r = complete(ss, review, "many", "", NULL);
    json_t *vals = at(r, "result.completion.values");
    assert_int_equal(json_array_size(vals), 100);
    assert_string_equal(json_string_value(json_array_get(vals, 0)), "v000");
    assert_string_equal(json_string_value(json_array_get(vals, 99)), "v099");
    assert_int_equal(json_integer_value(at(r, "result.completion.total")), 150);
    assert_true(json_is_true(at(r, "result.completion.hasMore")));
    json_decref(r);

    /* a prompt without a callback: nothing to offer */
    expect_completion(complete(ss, "{\"type\":\"ref/prompt\",\"name\":\"plain\"}", "x", "a", NULL),
                      "[]", 0, false);
    /* a resource template: its own callback */
    expect_completion(complete(ss, "{\"type\":\"ref/resource\",\"uri\":\"test://tables/{name}\"}",
                               "name", "cu", NULL),
                      "[\"customers\"]", 1, false);
    expect_completion(
        complete(ss, "{\"type\":\"ref/resource\",\"uri\":\"test://doc\"}", "x", "", NULL), "[]", 0,
        false);

    const char *bad[][3] = {
        {"{\"type\":\"ref/prompt\",\"name\":\"nope\"}", "table", "o"},
        {"{\"type\":\"ref/prompt\"}", "table", "o"},
        {"{\"type\":\"ref/resource\",\"uri\":\"test://nope/{x}\"}", "x", ""},
        {"{\"type\":\"ref/tool\",\"name\":\"ok\"}", "x", ""},
        {"{\"name\":\"review\"}", "table", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = complete(ss, bad[i][0], bad[i][1], bad[i][2], NULL);
        assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
        json_decref(r);
    }
    r = request(ss, "completion/complete",
                "{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"review\"}}");
    assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
    json_decref(r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static bool has_completions(mcp_server *s)
{
    mcp_session *ss = mcp_session_new(s);
    json_t *r = init_session(ss);
    bool has = at(r, "result.capabilities.completions") != NULL;
    if (has)
        assert_true(json_is_object(at(r, "result.capabilities.completions")));
    json_decref(r);
    mcp_session_free(ss);
    return has;
}

static void test_completions_capability(void **state)
{
    mcp_server *s = server();
    assert_true(has_completions(s));
    mcp_server_free(s);

    mcp_server_info info = {.name = "t", .version = "1"};
    pm_err err = {0};
    s = mcp_server_new(&info);
    assert_int_equal(mcp_server_add_tools(s, fixture_tools, NTOOLS, NULL, &err), PM_OK);
    assert_false(has_completions(s));
    /* prompts and resources without callbacks: still none */
    assert_int_equal(mcp_server_add_prompts(s, &fixture_prompts[1], 1, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_resources(s, fixture_resources, 2, NULL, &err), PM_OK);
    assert_false(has_completions(s));
    mcp_server_free(s);

    /* one template with a callback is enough */
    s = mcp_server_new(&info);
    assert_int_equal(mcp_server_add_resources(s, &fixture_resources[2], 1, NULL, &err), PM_OK);
    assert_true(has_completions(s));
    mcp_server_free(s);
}

/* ---- subscriptions ---------------------------------------------------------------- */

static void test_subscriptions(void **state)
{
    mcp_server *s = server();
    mcp_session *a = session(s), *b = session(s), *mute = session(s);
    rec ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    mcp_session_set_stream(a, &ra.out);
    mcp_session_set_stream(b, &rb.out);

    json_t *r = request(a, "resources/subscribe", "{\"uri\":\"test://tables/orders\"}");
    assert_json_equal(at(r, "result"), "{}");
    json_decref(r);
    r = request(b, "resources/subscribe", "{\"uri\":\"test://doc\"}");
    assert_json_equal(at(r, "result"), "{}");
    json_decref(r);
    /* subscribed, but no stream: its updates are dropped */
    json_decref(request(mute, "resources/subscribe", "{\"uri\":\"test://tables/orders\"}"));
    r = request(a, "resources/subscribe", "{}");
    assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
    json_decref(r);

    mcp_server_resource_updated(s, "test://tables/orders");
    json_t *all = rec_all(&ra);
    assert_json_equal(all, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\","
                           "\"params\":{\"uri\":\"test://tables/orders\"}}]");
    json_decref(all);
    assert_int_equal(rec_count(&rb), 0);

    mcp_server_resource_updated(s, "test://doc");
    mcp_server_resource_updated(s, "test://tables/customers"); /* nobody's */
    assert_int_equal(rec_count(&ra), 1);
    all = rec_all(&rb);
    assert_json_equal(all, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\","
                           "\"params\":{\"uri\":\"test://doc\"}}]");
    json_decref(all);

    r = request(a, "resources/unsubscribe", "{\"uri\":\"test://tables/orders\"}");
    assert_json_equal(at(r, "result"), "{}");
    json_decref(r);
    mcp_server_resource_updated(s, "test://tables/orders");
    assert_int_equal(rec_count(&ra), 1);
    assert_int_equal(rec_count(&rb), 1);

    /* a session gone is no longer sent anything */
    mcp_session_set_stream(b, NULL);
    mcp_session_free(b);
    mcp_server_resource_updated(s, "test://doc");
    assert_int_equal(rec_count(&rb), 1);

    mcp_session_free(a);
    mcp_session_free(mute);
    rec_free(&ra);
    rec_free(&rb);
    mcp_server_free(s);
}

/* ---- tool statistics, blob resources ------------------------------------------- */

static json_t *stat_of(json_t *stats, const char *tool)
{
    size_t i;
    json_t *st;
    json_array_foreach(stats, i, st)
    {
        if (strcmp(str_at(st, "tool"), tool) == 0)
            return st;
    }
    fail_msg("no statistics for tool %s", tool);
    return NULL;
}

static void test_tool_stats(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    json_decref(call_tool(ss, NULL, "counted", "{}", NULL));
    json_decref(call_tool(ss, NULL, "counted", "{\"fail\":false}", NULL));
    json_t *r = call_tool(ss, NULL, "counted", "{\"fail\":true}", NULL);
    assert_contains(tool_error_text(r), "asked to fail");
    json_decref(r);
    r = call_tool(ss, NULL, "counted", "{\"fail\":\"yes\"}", NULL); /* invalid argument */
    assert_contains(tool_error_text(r), "Invalid arguments");
    json_decref(r);
    r = call_tool(ss, NULL, "broken", NULL, NULL);
    assert_int_equal(error_code(r), JSONRPC_INTERNAL_ERROR);
    json_decref(r);
    r = call_tool(ss, NULL, "nope", NULL, NULL); /* no tool: nobody's statistics */
    assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
    json_decref(r);
    json_decref(call_tool(ss, NULL, "ok", NULL, NULL));

    json_t *stats = mcp_server_tool_stats(s);
    assert_int_equal(json_array_size(stats), NTOOLS);
    for (size_t i = 0; i < NTOOLS; i++) /* in table order */
        assert_string_equal(str_at(json_array_get(stats, i), "tool"), fixture_tools[i].name);
    json_t *c = stat_of(stats, "counted");
    assert_int_equal(json_integer_value(at(c, "calls")), 4);
    assert_int_equal(json_integer_value(at(c, "failures")), 2);
    assert_true(json_real_value(at(c, "failure_rate")) == 0.5);
    assert_true(json_real_value(at(c, "mean_ms")) >= 0);
    json_t *b = stat_of(stats, "broken");
    assert_int_equal(json_integer_value(at(b, "calls")), 1);
    assert_int_equal(json_integer_value(at(b, "failures")), 1);
    json_t *o = stat_of(stats, "ok");
    assert_int_equal(json_integer_value(at(o, "calls")), 1);
    assert_int_equal(json_integer_value(at(o, "failures")), 0);
    json_t *l = stat_of(stats, "log");
    assert_int_equal(json_integer_value(at(l, "calls")), 0);
    assert_true(json_real_value(at(l, "failure_rate")) == 0.0);
    json_decref(stats);
    mcp_session_free(ss);
    mcp_server_free(s);
}

static void test_blob_resource(void **state)
{
    mcp_server *s = server();
    mcp_session *ss = session(s);
    json_t *r = request(ss, "resources/read", "{\"uri\":\"test://blob\"}");
    assert_json_equal(at(r, "result.contents"), "[{\"uri\":\"test://blob\",\"mimeType\":"
                                                "\"image/png\",\"blob\":\"iVBORw0KGgo=\"}]");
    json_decref(r);
    r = request(ss, "resources/read", "{\"uri\":\"test://doc\"}");
    assert_json_equal(at(r, "result.contents"), "[{\"uri\":\"test://doc\",\"mimeType\":"
                                                "\"text/plain\",\"text\":\"the runbook\"}]");
    json_decref(r);
    mcp_session_free(ss);
    mcp_server_free(s);
}

/* ---- stdio ---------------------------------------------------------------------- */

/* mcp_stdio_serve on its own thread between two pipes; the test writes the
 * client's lines, and a reader thread collects what the server writes. */
typedef struct peer {
    mcp_server *s;
    int in_r, in_w, out_r, out_w;
    pthread_t serve_th, read_th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pm_buf got;  /* everything the server wrote */
    bool served; /* mcp_stdio_serve returned */
    pm_code rc;
    pm_err err;
    double served_at;
} peer;

static void *peer_serve(void *arg)
{
    peer *p = arg;
    pm_err err = {0};
    pm_code rc = mcp_stdio_serve(p->s, p->in_r, p->out_w, &err);
    close(p->out_w);
    pthread_mutex_lock(&p->mu);
    p->rc = rc;
    p->err = err;
    p->served = true;
    p->served_at = now_ms();
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *peer_read(void *arg)
{
    peer *p = arg;
    char block[4096];
    for (;;) {
        ssize_t n = read(p->out_r, block, sizeof block);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        pthread_mutex_lock(&p->mu);
        pm_buf_append(&p->got, block, (size_t)n, NULL);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void peer_start(peer *p, mcp_server *s)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    *p = (peer){.s = s, .in_r = in[0], .in_w = in[1], .out_r = out[0], .out_w = out[1]};
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pm_buf_init(&p->got, 1 << 20);
    assert_int_equal(pthread_create(&p->read_th, NULL, peer_read, p), 0);
    assert_int_equal(pthread_create(&p->serve_th, NULL, peer_serve, p), 0);
}

static void peer_send(peer *p, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(write(p->in_w, line, n), (ssize_t)n);
    assert_int_equal(write(p->in_w, "\n", 1), 1);
}

/* Waits up to ms for the server's output to hold text. */
static bool peer_wait(peer *p, const char *text, int ms)
{
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&p->mu);
    while (!(p->got.data && strstr(p->got.data, text)) &&
           pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
        ;
    bool seen = p->got.data && strstr(p->got.data, text);
    pthread_mutex_unlock(&p->mu);
    return seen;
}

/* End of input; waits up to ms for mcp_stdio_serve to return. The output's
 * lines, parsed (caller owns); *ms_taken how long the return took, or -1
 * when it did not come in time (then it waits on, so nothing dangles). */
static json_t *peer_finish(peer *p, int ms, double *ms_taken)
{
    double t0 = now_ms();
    close(p->in_w);
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&p->mu);
    while (!p->served && pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
        ;
    *ms_taken = p->served ? p->served_at - t0 : -1;
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->serve_th, NULL);
    pthread_join(p->read_th, NULL);
    close(p->in_r);
    close(p->out_r);
    json_t *lines = json_array();
    char *save = NULL;
    for (char *l = p->got.data ? strtok_r(p->got.data, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save))
        json_array_append_new(lines, parse(l));
    pm_buf_free(&p->got);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    return lines;
}

static const char *const stdio_init =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{\"sampling\":{}},"
    "\"clientInfo\":{\"name\":\"pipe\",\"version\":\"1\"}}}";

static void peer_init(peer *p)
{
    peer_send(p, stdio_init);
    peer_send(p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    assert_true(peer_wait(p, "\"id\":0,\"result\"", PROMPT_MS));
}

/* The response with this id among lines (borrowed), or NULL. */
static json_t *response_to(json_t *lines, json_int_t id)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        json_t *v = json_object_get(l, "id");
        if (json_is_integer(v) && json_integer_value(v) == id && !json_object_get(l, "method"))
            return l;
    }
    return NULL;
}

static void test_stdio_cancel(void **state)
{
    mcp_server *s = server();
    peer p;
    peer_start(&p, s);
    peer_init(&p);
    peer_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"spin\",\"arguments\":{}}}");
    bool running = peer_wait(&p, "\"spinning\"", PROMPT_MS);
    peer_send(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                  "\"params\":{\"requestId\":1}}");
    peer_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    bool pong = peer_wait(&p, "\"id\":2,\"result\"", PROMPT_MS);
    double ms;
    json_t *lines = peer_finish(&p, PROMPT_MS, &ms);
    assert_true(running);
    assert_true(pong);
    assert_true(ms >= 0);
    assert_int_equal(p.rc, PM_OK);
    pthread_mutex_lock(&fx.mu);
    bool saw = fx.saw_cancel;
    pthread_mutex_unlock(&fx.mu);
    assert_true(saw);
    if (response_to(lines, 1))
        fail_msg("the cancelled request 1 was answered on stdout");
    assert_json_equal(response_to(lines, 2), "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
    json_decref(lines);
    mcp_server_free(s);
}

static void test_stdio_eof_while_waiting(void **state)
{
    mcp_server *s = server();
    peer p;
    peer_start(&p, s);
    peer_init(&p);
    peer_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"ask\",\"arguments\":{\"timeout_ms\":20000}}}");
    bool asked = peer_wait(&p, "sampling/createMessage", PROMPT_MS);
    double ms;
    json_t *lines = peer_finish(&p, 5000, &ms);
    assert_true(asked);
    if (ms < 0)
        fail_msg("mcp_stdio_serve did not return within 5 s of end of input while a tool waited "
                 "on the client");
    assert_int_equal(p.rc, PM_OK);
    json_t *req = NULL;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        const char *m = str_at(l, "method");
        if (m && strcmp(m, "sampling/createMessage") == 0)
            req = l;
    }
    assert_non_null(req);
    assert_true(json_is_integer(json_object_get(req, "id")));
    json_t *res = response_to(lines, 1);
    assert_non_null(res);
    assert_contains(tool_error_text(res), "session ended");
    json_decref(lines);
    mcp_server_free(s);
}

/* End of input while a tool runs: the work is not thrown away (a script
 * that pipes its requests and closes stdin gets every answer);
 * mcp_stdio_serve returns once the running request is done, its answer
 * written. */
static void test_stdio_eof_while_running(void **state)
{
    mcp_server *s = server();
    peer p;
    peer_start(&p, s);
    peer_init(&p);
    peer_send(&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                  "\"params\":{\"name\":\"spin\",\"arguments\":{\"limit_ms\":300}}}");
    bool running = peer_wait(&p, "\"spinning\"", PROMPT_MS);
    double ms;
    json_t *lines = peer_finish(&p, SPIN_SAFETY_MS * 2, &ms);
    char *text = json_dumps(lines, JSON_COMPACT);
    json_decref(lines);
    mcp_server_free(s);
    assert_true(running);
    assert_int_equal(p.rc, PM_OK);
    pthread_mutex_lock(&fx.mu);
    bool saw = fx.saw_cancel;
    pthread_mutex_unlock(&fx.mu);
    assert_false(saw);
    assert_non_null(strstr(text, "\"cancelled\":false"));
    free(text);
}

/* mcp_stdio_serve on a thread, for a test that needs no output reader. */
typedef struct serving {
    mcp_server *s;
    int in_fd, out_fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    pm_code rc;
    pm_err err;
} serving;

static void *serving_main(void *arg)
{
    serving *v = arg;
    pm_err err = {0};
    pm_code rc = mcp_stdio_serve(v->s, v->in_fd, v->out_fd, &err);
    pthread_mutex_lock(&v->mu);
    v->rc = rc;
    v->err = err;
    v->done = true;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* A write that fails (stdout is /dev/full) ends the serve with PM_ERR_IO
 * at the next input, while stdin is still open. */
static void test_stdio_write_failure(void **state)
{
    int full = open("/dev/full", O_WRONLY);
    if (full < 0)
        skip();
    mcp_server *s = server();
    int in[2];
    assert_int_equal(pipe(in), 0);
    serving v = {.s = s, .in_fd = in[0], .out_fd = full};
    pthread_mutex_init(&v.mu, NULL);
    pthread_cond_init(&v.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serving_main, &v), 0);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
    assert_int_equal(write(in[1], ping, strlen(ping)), (ssize_t)strlen(ping));
    /* blank lines (no message, nothing to answer) until the server stops */
    bool stopped = false;
    for (double t0 = now_ms(); !stopped && now_ms() - t0 < PROMPT_MS;) {
        assert_int_equal(write(in[1], "\n", 1), 1);
        struct timespec until = deadline_in(20);
        pthread_mutex_lock(&v.mu);
        if (!v.done)
            pthread_cond_timedwait(&v.cv, &v.mu, &until);
        stopped = v.done;
        pthread_mutex_unlock(&v.mu);
    }
    close(in[1]);
    pthread_join(th, NULL);
    close(in[0]);
    close(full);
    pthread_mutex_destroy(&v.mu);
    pthread_cond_destroy(&v.cv);
    mcp_server_free(s);
    if (!stopped)
        fail_msg("mcp_stdio_serve read on for %d ms after its write failed", PROMPT_MS);
    assert_int_equal(v.rc, PM_ERR_IO);
    assert_contains(v.err.msg, "cannot write");
}

int main(void)
{
    pm_log_set_level(PM_LOG_ERROR);
#define T(f) cmocka_unit_test_setup(f, reset_fixture)
    const struct CMUnitTest tests[] = {
        T(test_progress),
        T(test_logging),
        T(test_cancel_before_run),
        T(test_cancel_big_integer_id),
        T(test_cancel_running_tool),
        T(test_cancel_initialize_ignored),
        T(test_cancel_unknown_harmless),
        T(test_cancel_all_is_seen),
        T(test_request_answered),
        T(test_request_error_answer),
        T(test_request_timeout),
        T(test_request_negative_timeout),
        T(test_request_session_closed),
        T(test_request_cancelled_while_waiting),
        T(test_request_without_notify),
        T(test_content_blocks),
        T(test_prompt_messages),
        T(test_completion),
        T(test_completions_capability),
        T(test_subscriptions),
        T(test_tool_stats),
        T(test_blob_resource),
        T(test_stdio_cancel),
        T(test_stdio_eof_while_waiting),
        T(test_stdio_eof_while_running),
        T(test_stdio_write_failure),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
