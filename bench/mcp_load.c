/* mcp_load.c - the load generator of bench/mcp_rpc.sh: MCP round trips
 * (tools/call of a read-only tool, and ping) against a server over stdio or
 * Streamable HTTP, with the latency of every call and the server's memory.
 *
 *   cc -std=c11 -O2 -pthread -o build/bench/mcp_load bench/mcp_load.c -lcurl
 *   mcp_load stdio [OPTIONS] -- COMMAND [ARG...]
 *   mcp_load http [OPTIONS] URL
 *
 * Options:
 *   -n CALLS     measured calls per method (default 100000)
 *   -c CLIENTS   HTTP: client threads, each with its own session and its own
 *                keep-alive connection (default 8); stdio is one client
 *   -w CALLS     warm-up calls per method and client, not counted (default 200)
 *   -b SECONDS   time budget per method: when the warm-up rate says CALLS
 *                would take longer, fewer calls are made and a `note` line
 *                says so (default 0: no budget). A phase is also stopped at
 *                three times the budget, whatever the estimate said.
 *   -p PID       HTTP: the server process whose memory and CPU are sampled
 *                (stdio: the child started here)
 *   -T N         list_tables must answer N tables
 *   -t TOOL      the tool called (default list_tables), with no arguments
 *   -m METHOD    only this phase: tools/call or ping (default both)
 *   -o FILE      write the first structuredContent answered to FILE
 *   -e FILE      stdio: the server's stderr goes to FILE (default /dev/null)
 *
 * Each client sends one request and waits for its answer before the next
 * (round trips; stdio is strictly sequential, as the transport is one pipe).
 * The tools/call phase runs first, then the ping phase, each after its own
 * warm-up (-m picks one). Every answer is checked: it is JSON-RPC 2.0 with the id sent and
 * a "result" (no "error"); a ping's result is an object; a tools/call's
 * result has an object structuredContent, isError not true, the expected
 * number of tables, and the same structuredContent bytes as the first answer
 * of the run. HTTP answers must be 200 with application/json or
 * text/event-stream (the SSE events are parsed: an event with empty data,
 * such as the 2025-11-25 priming event, and the server's own notifications
 * are skipped). A failed check is an error, counted and reported with the
 * first few reasons on stderr, and its latency is not counted.
 *
 * The latency of a call runs from just before the request is written to the
 * moment its answer is complete, before it is checked.
 *
 * Output on stdout, one record a line, for the script:
 *   phase method=M calls=N planned=N errors=E secs=S rps=R p50_us=X
 *         p99_us=X max_us=X srv_cpu_us=X     (server CPU per call)
 *   mem start_kb=K p10_kb=K p100_kb=K end_kb=K hwm_kb=K
 *   note TEXT
 * start is the server's VmRSS once the sessions are up and warmed, p10 and
 * p100 after 10% and 100% of the first phase (tools/call unless -m ping),
 * end after the last phase, hwm its VmHWM then. Exit status: 0 when every call was answered right,
 * 1 when any was not, 2 on a usage or setup error. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL "2025-11-25"
#define MAX_MESSAGE (16u << 20)
#define IO_TIMEOUT_MS 30000
#define MAX_REPORTED 10

enum { M_TOOL, M_PING, M_COUNT };
static const char *const method_name[M_COUNT] = {"tools/call", "ping"};

/* ---- settings and shared state ------------------------------------------- */

static long opt_calls = 100000;
static int opt_clients = 8;
static long opt_warmup = 200;
static double opt_budget = 0;
static pid_t opt_pid = 0;
static long opt_tables = -1;
static const char *opt_tool = "list_tables";
static const char *opt_out = NULL;
static const char *opt_errfile = "/dev/null";
static bool run_method[M_COUNT] = {true, true};
static int first_method = M_TOOL; /* the phase memory is sampled over */

static pthread_mutex_t ref_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ref_content; /* the first structuredContent; owned here */
static size_t ref_len;

static atomic_long reported;
static atomic_long warm_errors; /* wrong answers during the warm-ups */

static void fail_report(int client, const char *fmt, ...)
{
    if (atomic_fetch_add(&reported, 1) >= MAX_REPORTED)
        return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mcp_load: client %d: error: %s\n", client, msg);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mcp_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the server process: memory and CPU ---------------------------------- */

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* utime + stime of the process, in microseconds. */
static double proc_cpu_us(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static pid_t server_pid;
static long mem_start = -1, mem_p10 = -1, mem_p100 = -1, mem_end = -1, mem_hwm = -1;

static long rss_now(void)
{
    return server_pid ? proc_status_kb(server_pid, "VmRSS") : -1;
}

/* ---- a small JSON scanner ------------------------------------------------ */

/* Just enough JSON to check an answer without building it: values are
 * skipped over with their structure validated, object members are visited
 * by key. Keys compared here are plain ASCII, so a key is matched on its raw
 * bytes. */
typedef struct {
    const char *p, *end;
} scan;

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(scan *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A string at s->p; its raw contents in [*a, *b). */
static bool str(scan *s, const char **a, const char **b)
{
    if (!eat(s, '"'))
        return false;
    *a = s->p;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\')
            s->p++;
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    *b = s->p++;
    return true;
}

static bool value(scan *s, int depth);

static bool members(scan *s, int depth, char open, char close, long *count)
{
    if (!eat(s, open))
        return false;
    long n = 0;
    if (eat(s, close))
        goto done;
    do {
        if (open == '{') {
            const char *a, *b;
            if (!str(s, &a, &b) || !eat(s, ':'))
                return false;
        }
        if (!value(s, depth + 1))
            return false;
        n++;
    } while (eat(s, ','));
    if (!eat(s, close))
        return false;
done:
    if (count)
        *count = n;
    return true;
}

static bool value(scan *s, int depth)
{
    if (depth > 64)
        return false;
    ws(s);
    if (s->p >= s->end)
        return false;
    const char *a, *b;
    switch (*s->p) {
    case '{':
        return members(s, depth, '{', '}', NULL);
    case '[':
        return members(s, depth, '[', ']', NULL);
    case '"':
        return str(s, &a, &b);
    default:
        a = s->p;
        while (s->p < s->end && (strchr("+-.eE", *s->p) || (*s->p >= '0' && *s->p <= '9') ||
                                 (*s->p >= 'a' && *s->p <= 'z')))
            s->p++;
        return s->p > a;
    }
}

/* The member `key` of the object in [p, end): its value's span. */
static bool member(const char *p, const char *end, const char *key, const char **va,
                   const char **vb)
{
    scan s = {p, end};
    size_t kl = strlen(key);
    if (!eat(&s, '{'))
        return false;
    if (eat(&s, '}'))
        return false;
    do {
        const char *a, *b;
        if (!str(&s, &a, &b) || !eat(&s, ':'))
            return false;
        ws(&s);
        const char *v = s.p;
        if (!value(&s, 1))
            return false;
        if ((size_t)(b - a) == kl && !memcmp(a, key, kl)) {
            *va = v;
            *vb = s.p;
            return true;
        }
    } while (eat(&s, ','));
    return false;
}

static bool is_object(const char *a, const char *b)
{
    scan s = {a, b};
    return a < b && *a == '{' && members(&s, 1, '{', '}', NULL);
}

/* ---- checking an answer -------------------------------------------------- */

/* Is [p, end) the right answer to request `id` of method m? Returns 1 when
 * it is, 0 when it is a message to skip (a notification or a request of the
 * server's own), -1 when it is wrong (why in `why`). */
static int check_answer(const char *p, const char *end, long id, int m, char *why, size_t wn)
{
    scan s = {p, end};
    if (!value(&s, 0) || (ws(&s), s.p != end) || !is_object(p, end)) {
        snprintf(why, wn, "not one JSON object: %.200s", p);
        return -1;
    }
    const char *a, *b;
    if (!member(p, end, "id", &a, &b)) {
        if (member(p, end, "method", &a, &b))
            return 0;
        snprintf(why, wn, "no id: %.200s", p);
        return -1;
    }
    char *num_end;
    long got = strtol(a, &num_end, 10);
    if (num_end != b || got != id) {
        if (member(p, end, "method", &a, &b))
            return 0; /* a request of the server's own */
        snprintf(why, wn, "id %.*s, expected %ld", (int)(b - a), a, id);
        return -1;
    }
    if (!member(p, end, "jsonrpc", &a, &b) || b - a != 5 || memcmp(a, "\"2.0\"", 5)) {
        snprintf(why, wn, "no \"jsonrpc\":\"2.0\": %.200s", p);
        return -1;
    }
    const char *ra, *rb;
    if (member(p, end, "error", &a, &b) || !member(p, end, "result", &ra, &rb)) {
        snprintf(why, wn, "no result: %.300s", p);
        return -1;
    }
    if (!is_object(ra, rb)) {
        snprintf(why, wn, "result is not an object: %.200s", ra);
        return -1;
    }
    if (m == M_PING)
        return 1;
    if (member(ra, rb, "isError", &a, &b) && b - a == 4 && !memcmp(a, "true", 4)) {
        snprintf(why, wn, "isError: %.300s", p);
        return -1;
    }
    const char *ca, *cb;
    if (!member(ra, rb, "structuredContent", &ca, &cb) || !is_object(ca, cb)) {
        snprintf(why, wn, "no structuredContent object: %.300s", p);
        return -1;
    }
    if (opt_tables >= 0) {
        long n = -1;
        scan t;
        if (!member(ca, cb, "tables", &a, &b) ||
            (t = (scan){a, b}, !members(&t, 1, '[', ']', &n)) || n != opt_tables) {
            snprintf(why, wn, "%ld tables, expected %ld: %.300s", n, opt_tables, ca);
            return -1;
        }
    }
    size_t len = (size_t)(cb - ca);
    pthread_mutex_lock(&ref_lock);
    if (!ref_content) {
        ref_content = malloc(len + 1);
        if (!ref_content)
            die("out of memory");
        memcpy(ref_content, ca, len);
        ref_content[len] = 0;
        ref_len = len;
    }
    bool same = ref_len == len && !memcmp(ref_content, ca, len);
    pthread_mutex_unlock(&ref_lock);
    if (!same) {
        snprintf(why, wn, "structuredContent differs from the first answer: %.300s", ca);
        return -1;
    }
    return 1;
}

static int request(char *buf, size_t n, long id, int m)
{
    if (m == M_PING)
        return snprintf(buf, n, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}", id);
    return snprintf(buf, n,
                    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{"
                    "\"name\":\"%s\",\"arguments\":{}}}",
                    id, opt_tool);
}

static const char initialize_msg[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"" PROTOCOL "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcp_load\",\"version\":"
    "\"1\"}}}";
static const char initialized_msg[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

/* ---- latencies ----------------------------------------------------------- */

typedef struct {
    uint64_t *ns; /* one per call answered right; owned */
    long n, cap;
    long errors;
} lat;

static void lat_add(lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->ns = realloc(l->ns, (size_t)l->cap * sizeof *l->ns);
        if (!l->ns)
            die("out of memory");
    }
    l->ns[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const lat *l, double q)
{
    if (!l->n)
        return 0;
    long i = (long)(q * (double)l->n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= l->n)
        i = l->n - 1;
    return (double)l->ns[i] / 1e3;
}

/* ---- phases, common to both transports ----------------------------------- */

/* What one phase (one method) did, over all clients. */
typedef struct {
    long planned; /* calls meant to be made, after the budget */
    uint64_t t0, t1;
    double cpu0, cpu1;
    atomic_long done;
    uint64_t deadline; /* 0: none */
    bool ran;
} phase;

static phase phases[M_COUNT];

/* Called after every measured call of phase m (by any client). */
static void phase_tick(int m)
{
    long d = atomic_fetch_add(&phases[m].done, 1) + 1;
    if (m == first_method && d == phases[m].planned / 10)
        mem_p10 = rss_now();
}

/* Fewer calls when the warm-up rate says `planned` would not fit the budget. */
static void phase_plan(int m, long warm_calls, uint64_t warm_ns)
{
    phase *ph = &phases[m];
    ph->planned = opt_calls;
    ph->deadline = 0;
    if (opt_budget <= 0 || !warm_calls || !warm_ns)
        return;
    double rate = (double)warm_calls / ((double)warm_ns / 1e9);
    long fit = (long)(rate * opt_budget);
    if (fit < opt_calls) {
        ph->planned = fit < 1000 ? 1000 : fit / 1000 * 1000;
        if (ph->planned > opt_calls)
            ph->planned = opt_calls;
        printf("note %s: %ld calls instead of %ld: at the warm-up rate (%.0f calls/s) %ld would "
               "take %.0f s, over the %.0f s budget\n",
               method_name[m], ph->planned, opt_calls, rate, opt_calls, (double)opt_calls / rate,
               opt_budget);
        fflush(stdout);
    }
}

static void phase_begin(int m)
{
    phase *ph = &phases[m];
    ph->ran = true;
    atomic_store(&ph->done, 0);
    ph->cpu0 = server_pid ? proc_cpu_us(server_pid) : -1;
    ph->t0 = now_ns();
    if (opt_budget > 0)
        ph->deadline = ph->t0 + (uint64_t)(3 * opt_budget * 1e9);
}

static void phase_end(int m)
{
    phase *ph = &phases[m];
    ph->t1 = now_ns();
    ph->cpu1 = server_pid ? proc_cpu_us(server_pid) : -1;
    if (m == first_method)
        mem_p100 = rss_now();
}

static bool phase_over(int m)
{
    return phases[m].deadline && now_ns() > phases[m].deadline;
}

static int report(lat per_client[][M_COUNT], int clients)
{
    int bad = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (!phases[m].ran)
            continue;
        lat all = {0};
        for (int c = 0; c < clients; c++) {
            for (long i = 0; i < per_client[c][m].n; i++)
                lat_add(&all, per_client[c][m].ns[i]);
            all.errors += per_client[c][m].errors;
        }
        if (all.n)
            qsort(all.ns, (size_t)all.n, sizeof *all.ns, cmp_u64);
        phase *ph = &phases[m];
        double secs = (double)(ph->t1 - ph->t0) / 1e9;
        long calls = all.n + all.errors;
        double cpu = ph->cpu0 >= 0 && ph->cpu1 >= 0 && calls ? (ph->cpu1 - ph->cpu0) / calls : -1;
        printf("phase method=%s calls=%ld planned=%ld errors=%ld secs=%.3f rps=%.1f p50_us=%.1f "
               "p99_us=%.1f max_us=%.1f srv_cpu_us=%.1f\n",
               method_name[m], calls, ph->planned, all.errors, secs, secs > 0 ? all.n / secs : 0,
               pct_us(&all, 0.50), pct_us(&all, 0.99), all.n ? all.ns[all.n - 1] / 1e3 : 0, cpu);
        if (calls < ph->planned && ph->deadline && ph->t1 > ph->deadline)
            printf("note %s: stopped after %ld of %ld calls at 3x the %.0f s budget\n",
                   method_name[m], calls, ph->planned, opt_budget);
        else if (calls < ph->planned)
            printf("note %s: stopped after %ld of %ld calls\n", method_name[m], calls, ph->planned);
        if (all.errors)
            bad = 1;
        free(all.ns);
    }
    if (atomic_load(&warm_errors)) {
        printf("note %ld wrong answers during the warm-ups (not in the counts above)\n",
               atomic_load(&warm_errors));
        bad = 1;
    }
    printf("mem start_kb=%ld p10_kb=%ld p100_kb=%ld end_kb=%ld hwm_kb=%ld\n", mem_start, mem_p10,
           mem_p100, mem_end, mem_hwm);
    if (opt_out && ref_content) {
        FILE *f = fopen(opt_out, "w");
        if (!f || fprintf(f, "%s\n", ref_content) < 0 || fclose(f))
            die("cannot write %s: %s", opt_out, strerror(errno));
    }
    return bad;
}

/* ---- stdio --------------------------------------------------------------- */

typedef struct {
    int in, out; /* our ends: the server's stdin and stdout */
    char *buf;   /* what was read and not yet consumed; owned */
    size_t len, cap;
} pipe_client;

/* The next line from the server, without its newline, in [*a, *b) and
 * NUL-terminated; valid until the next call. */
static bool read_line(pipe_client *pc, size_t *consumed, const char **a, const char **b)
{
    if (*consumed) {
        memmove(pc->buf, pc->buf + *consumed, pc->len - *consumed);
        pc->len -= *consumed;
        *consumed = 0;
    }
    size_t scanned = 0;
    for (;;) {
        char *nl = pc->len ? memchr(pc->buf + scanned, '\n', pc->len - scanned) : NULL;
        if (nl) {
            *nl = 0;
            *a = pc->buf;
            *b = nl;
            *consumed = (size_t)(nl - pc->buf) + 1;
            return true;
        }
        scanned = pc->len;
        if (pc->cap - pc->len < 65536) {
            if (pc->cap >= MAX_MESSAGE) {
                fprintf(stderr, "mcp_load: a line over %u bytes from the server\n", MAX_MESSAGE);
                return false;
            }
            pc->cap = pc->cap ? pc->cap * 2 : 1 << 17;
            pc->buf = realloc(pc->buf, pc->cap);
            if (!pc->buf)
                die("out of memory");
        }
        struct pollfd pfd = {.fd = pc->out, .events = POLLIN};
        int r = poll(&pfd, 1, IO_TIMEOUT_MS);
        if (r == 0) {
            fprintf(stderr, "mcp_load: no answer from the server in %d s\n", IO_TIMEOUT_MS / 1000);
            return false;
        }
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t got = read(pc->out, pc->buf + pc->len, pc->cap - pc->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fprintf(stderr, "mcp_load: the server closed its stdout\n");
            return false;
        }
        pc->len += (size_t)got;
    }
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static size_t pipe_consumed;

/* One round trip; 1 right, 0 wrong (counted), -1 the server is gone. */
static int pipe_call(pipe_client *pc, long id, int m, uint64_t *ns)
{
    char req[512], why[800];
    int n = request(req, sizeof req - 1, id, m);
    req[n++] = '\n';
    uint64_t t0 = now_ns();
    if (!write_all(pc->in, req, (size_t)n)) {
        fprintf(stderr, "mcp_load: cannot write to the server: %s\n", strerror(errno));
        return -1;
    }
    for (;;) {
        const char *a, *b;
        if (!read_line(pc, &pipe_consumed, &a, &b))
            return -1;
        *ns = now_ns() - t0;
        int r = check_answer(a, b, id, m, why, sizeof why);
        if (r == 0)
            continue;
        if (r < 0)
            fail_report(0, "%s %ld: %s", method_name[m], id, why);
        return r > 0;
    }
}

static int run_stdio(char **argv)
{
    int to_srv[2], from_srv[2];
    if (pipe(to_srv) || pipe(from_srv))
        die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int errfd = open(opt_errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (errfd < 0 || dup2(to_srv[0], 0) < 0 || dup2(from_srv[1], 1) < 0 || dup2(errfd, 2) < 0)
            _exit(127);
        close(to_srv[0]);
        close(to_srv[1]);
        close(from_srv[0]);
        close(from_srv[1]);
        close(errfd);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(to_srv[0]);
    close(from_srv[1]);
    server_pid = pid;
    pipe_client pc = {.in = to_srv[1], .out = from_srv[0]};

    const char *a, *b;
    char msg[sizeof initialize_msg + 1];
    snprintf(msg, sizeof msg, "%s\n", initialize_msg);
    if (!write_all(pc.in, msg, strlen(msg)) || !read_line(&pc, &pipe_consumed, &a, &b) ||
        !strstr(a, "\"protocolVersion\""))
        die("the server did not answer initialize (its stderr: %s)", opt_errfile);
    snprintf(msg, sizeof msg, "%s\n", initialized_msg);
    if (!write_all(pc.in, msg, strlen(msg)))
        die("cannot write to the server");

    static lat per_client[1][M_COUNT];
    long id = 1;
    int gone = 0;
    for (int m = 0; m < M_COUNT && !gone; m++) {
        if (!run_method[m])
            continue;
        uint64_t ns, w0 = now_ns();
        for (long i = 0; i < opt_warmup && !gone; i++) {
            int r = pipe_call(&pc, id++, m, &ns);
            gone = r < 0;
            if (r <= 0)
                atomic_fetch_add(&warm_errors, 1);
        }
        phase_plan(m, opt_warmup, now_ns() - w0);
        if (m == first_method)
            mem_start = rss_now();
        phase_begin(m);
        for (long i = 0; i < phases[m].planned && !gone && !phase_over(m); i++) {
            int r = pipe_call(&pc, id++, m, &ns);
            if (r < 0) {
                gone = 1;
                per_client[0][m].errors++;
            } else if (r)
                lat_add(&per_client[0][m], ns);
            else
                per_client[0][m].errors++;
            phase_tick(m);
        }
        phase_end(m);
    }
    mem_end = rss_now();
    mem_hwm = proc_status_kb(pid, "VmHWM");
    close(pc.in); /* end of input: the server exits */
    int status = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        if (i == 99) {
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
        usleep(50000);
    }
    int bad = report(per_client, 1) || gone;
    if (gone)
        printf("note the server stopped answering: see %s\n", opt_errfile);
    free(pc.buf);
    return bad;
}

/* ---- Streamable HTTP ----------------------------------------------------- */

typedef struct {
    int index;
    const char *url;
    CURL *h;
    struct curl_slist *headers;
    char session[256];
    char protocol[64];
    char content_type[128];
    char *body; /* the answer being read; owned */
    size_t len, cap;
    bool too_big;
    lat lat[M_COUNT];
    bool broken;
} http_client;

static pthread_barrier_t barrier;
static const char *http_url;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    http_client *c = arg;
    size_t k = size * n;
    if (c->len + k + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 8192;
        while (c->len + k + 1 > cap)
            cap *= 2;
        if (cap > MAX_MESSAGE) {
            c->too_big = true;
            return 0;
        }
        c->body = realloc(c->body, cap);
        if (!c->body)
            die("out of memory");
        c->cap = cap;
    }
    memcpy(c->body + c->len, p, k);
    c->len += k;
    c->body[c->len] = 0;
    return k;
}

static void header_value(const char *p, size_t n, size_t name_len, char *out, size_t out_n)
{
    p += name_len;
    n -= name_len;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    if (n >= out_n)
        n = out_n - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    http_client *c = arg;
    size_t k = size * n;
    if (k > 15 && !strncasecmp(p, "mcp-session-id:", 15))
        header_value(p, k, 15, c->session, sizeof c->session);
    else if (k > 13 && !strncasecmp(p, "content-type:", 13))
        header_value(p, k, 13, c->content_type, sizeof c->content_type);
    return k;
}

/* POSTs msg; the status in *status, the body in c->body. */
static bool http_post(http_client *c, const char *msg, long *status)
{
    c->len = 0;
    c->too_big = false;
    c->content_type[0] = 0;
    if (c->body)
        c->body[0] = 0;
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(msg));
    CURLcode rc = curl_easy_perform(c->h);
    if (rc != CURLE_OK) {
        fail_report(c->index, "HTTP: %s%s", curl_easy_strerror(rc),
                    c->too_big ? " (answer too big)" : "");
        return false;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    return true;
}

/* The JSON-RPC answer to `id` in c->body (JSON, or an SSE stream whose
 * events are checked in turn). 1 right, 0 wrong. */
static int http_answer(http_client *c, long id, int m)
{
    char why[800];
    if (!strncasecmp(c->content_type, "application/json", 16)) {
        int r = check_answer(c->body, c->body + c->len, id, m, why, sizeof why);
        if (r <= 0)
            fail_report(c->index, "%s %ld: %s", method_name[m], id, r ? why : "no answer");
        return r > 0;
    }
    if (strncasecmp(c->content_type, "text/event-stream", 17)) {
        fail_report(c->index, "%s %ld: Content-Type \"%s\"", method_name[m], id, c->content_type);
        return 0;
    }
    /* Events end at a blank line; their data lines are joined with \n. The
     * data is copied out, as it may span several lines. */
    char *p = c->body, *end = c->body + c->len;
    char *data = malloc(c->len + 1);
    if (!data)
        die("out of memory");
    size_t dl = 0;
    int verdict = -2; /* no answer yet */
    while (p <= end && verdict == -2) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll == 0) { /* dispatch */
            if (dl) {
                data[dl] = 0;
                int r = check_answer(data, data + dl, id, m, why, sizeof why);
                if (r != 0)
                    verdict = r;
            }
            dl = 0;
        } else if (ll >= 5 && !memcmp(p, "data:", 5)) {
            const char *v = p + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ')
                v++, vl--;
            if (dl)
                data[dl++] = '\n';
            memcpy(data + dl, v, vl);
            dl += vl;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    free(data);
    if (verdict == -2)
        snprintf(why, sizeof why, "the event stream ended without the answer: %.300s", c->body);
    if (verdict != 1)
        fail_report(c->index, "%s %ld: %s", method_name[m], id, why);
    return verdict == 1;
}

static bool http_setup(http_client *c)
{
    c->h = curl_easy_init();
    if (!c->h)
        return false;
    curl_easy_setopt(c->h, CURLOPT_URL, c->url);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)IO_TIMEOUT_MS);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Accept: application/json, text/event-stream");
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);

    long status = 0;
    if (!http_post(c, initialize_msg, &status) || status != 200 || !c->session[0]) {
        fprintf(stderr, "mcp_load: client %d: initialize: HTTP %ld, session \"%s\": %.300s\n",
                c->index, status, c->session, c->body ? c->body : "");
        return false;
    }
    const char *v = c->body ? strstr(c->body, "\"protocolVersion\":\"") : NULL;
    if (!v) {
        fprintf(stderr, "mcp_load: client %d: initialize: no protocolVersion\n", c->index);
        return false;
    }
    v += 19;
    size_t n = strcspn(v, "\"");
    snprintf(c->protocol, sizeof c->protocol, "%.*s", (int)n, v);
    char h[320];
    snprintf(h, sizeof h, "Mcp-Session-Id: %s", c->session);
    c->headers = curl_slist_append(c->headers, h);
    snprintf(h, sizeof h, "MCP-Protocol-Version: %s", c->protocol);
    c->headers = curl_slist_append(c->headers, h);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    if (!http_post(c, initialized_msg, &status) || status != 202) {
        fprintf(stderr, "mcp_load: client %d: notifications/initialized: HTTP %ld\n", c->index,
                status);
        return false;
    }
    return true;
}

/* One round trip; 1 right, 0 wrong. */
static int http_call(http_client *c, long id, int m, uint64_t *ns)
{
    char req[512];
    request(req, sizeof req, id, m);
    long status = 0;
    uint64_t t0 = now_ns();
    bool ok = http_post(c, req, &status);
    *ns = now_ns() - t0;
    if (!ok)
        return 0;
    if (status != 200) {
        fail_report(c->index, "%s %ld: HTTP %ld: %.300s", method_name[m], id, status, c->body);
        return 0;
    }
    return http_answer(c, id, m);
}

static long warm_calls[M_COUNT];
static uint64_t warm_t0[M_COUNT], warm_t1[M_COUNT];

static void *http_thread(void *arg)
{
    http_client *c = arg;
    c->broken = !http_setup(c);
    long id = 1;
    uint64_t ns;
    for (int m = 0; m < M_COUNT; m++) {
        if (!run_method[m])
            continue;
        /* Everyone warms up together; client 0 keeps the time. */
        pthread_barrier_wait(&barrier);
        if (c->index == 0)
            warm_t0[m] = now_ns();
        for (long i = 0; i < opt_warmup && !c->broken; i++)
            if (!http_call(c, id++, m, &ns))
                atomic_fetch_add(&warm_errors, 1);
        pthread_barrier_wait(&barrier);
        if (c->index == 0) {
            warm_t1[m] = now_ns();
            phase_plan(m, warm_calls[m], warm_t1[m] - warm_t0[m]);
            if (m == first_method)
                mem_start = rss_now();
            phase_begin(m);
        }
        pthread_barrier_wait(&barrier);
        long share =
            phases[m].planned / opt_clients + (c->index < phases[m].planned % opt_clients ? 1 : 0);
        for (long i = 0; i < share && !c->broken && !phase_over(m); i++) {
            if (http_call(c, id++, m, &ns))
                lat_add(&c->lat[m], ns);
            else
                c->lat[m].errors++;
            phase_tick(m);
        }
        pthread_barrier_wait(&barrier);
        if (c->index == 0)
            phase_end(m);
    }
    /* End the session, as a client that is done does. */
    if (!c->broken) {
        curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
        curl_easy_perform(c->h);
    }
    curl_slist_free_all(c->headers);
    curl_easy_cleanup(c->h);
    free(c->body);
    return NULL;
}

static int run_http(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        die("curl_global_init failed");
    server_pid = opt_pid;
    http_client *cs = calloc((size_t)opt_clients, sizeof *cs);
    pthread_t *ts = calloc((size_t)opt_clients, sizeof *ts);
    if (!cs || !ts)
        die("out of memory");
    for (int m = 0; m < M_COUNT; m++)
        warm_calls[m] = opt_warmup * opt_clients;
    pthread_barrier_init(&barrier, NULL, (unsigned)opt_clients);
    for (int i = 0; i < opt_clients; i++) {
        cs[i].index = i;
        cs[i].url = http_url;
        if (pthread_create(&ts[i], NULL, http_thread, &cs[i]))
            die("pthread_create: %s", strerror(errno));
    }
    for (int i = 0; i < opt_clients; i++)
        pthread_join(ts[i], NULL);
    mem_end = rss_now();
    mem_hwm = server_pid ? proc_status_kb(server_pid, "VmHWM") : -1;
    int broken = 0;
    lat(*per_client)[M_COUNT] = calloc((size_t)opt_clients, sizeof *per_client);
    if (!per_client)
        die("out of memory");
    for (int i = 0; i < opt_clients; i++) {
        broken |= cs[i].broken;
        memcpy(per_client[i], cs[i].lat, sizeof cs[i].lat);
    }
    int bad = report(per_client, opt_clients) || broken;
    if (broken)
        printf("note a client could not set up its session: see above\n");
    for (int i = 0; i < opt_clients; i++)
        for (int m = 0; m < M_COUNT; m++)
            free(per_client[i][m].ns);
    free(per_client);
    free(cs);
    free(ts);
    curl_global_cleanup();
    return bad;
}

/* ---- main ---------------------------------------------------------------- */

static long number(const char *s, const char *what)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || *e || v < 0)
        die("%s: not a number: %s", what, s);
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: mcp_load stdio [-n CALLS] [-w WARMUP] [-b SECONDS] [-T TABLES] "
                    "[-t TOOL] [-m METHOD] [-o FILE] [-e FILE] -- COMMAND [ARG...]\n"
                    "       mcp_load http [-n CALLS] [-c CLIENTS] [-w WARMUP] [-b SECONDS] "
                    "[-p PID] [-T TABLES] [-t TOOL] [-m METHOD] [-o FILE] URL\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    bool is_stdio = !strcmp(argv[1], "stdio");
    if (!is_stdio && strcmp(argv[1], "http"))
        usage();
    signal(SIGPIPE, SIG_IGN);
    int i = 2;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (i + 1 >= argc || argv[i][2])
            usage();
        const char *v = argv[++i];
        switch (argv[i - 1][1]) {
        case 'n':
            opt_calls = number(v, "-n");
            break;
        case 'c':
            opt_clients = (int)number(v, "-c");
            break;
        case 'w':
            opt_warmup = number(v, "-w");
            break;
        case 'b':
            opt_budget = (double)number(v, "-b");
            break;
        case 'p':
            opt_pid = (pid_t)number(v, "-p");
            break;
        case 'T':
            opt_tables = number(v, "-T");
            break;
        case 't':
            opt_tool = v;
            break;
        case 'o':
            opt_out = v;
            break;
        case 'e':
            opt_errfile = v;
            break;
        case 'm':
            if (!strcmp(v, "ping"))
                run_method[M_TOOL] = false, first_method = M_PING;
            else if (!strcmp(v, "tools/call"))
                run_method[M_PING] = false;
            else
                usage();
            break;
        default:
            usage();
        }
    }
    if (opt_calls < 1 || opt_clients < 1 || strlen(opt_tool) > 100 ||
        strspn(opt_tool, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(opt_tool))
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (is_stdio) {
        if (i >= argc)
            usage();
        return run_stdio(argv + i);
    }
    if (i + 1 != argc)
        usage();
    http_url = argv[i];
    return run_http();
}
