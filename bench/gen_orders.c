/* gen_orders.c - deterministic order events for the ingest benchmark.
 *
 *   cc -O2 -o build/bench/gen_orders bench/gen_orders.c
 *   gen_orders N          N NDJSON lines on stdout
 *   gen_orders --csv N    the same N rows as CSV (RFC 4180, header row)
 *
 * Standalone C11, no dependencies. The PRNG has a fixed seed, so the same N
 * always gives the same bytes, and the CSV rows are the NDJSON rows.
 *
 * One line looks like (about 300 bytes):
 *   {"order_id":10000000,"user_id":1234567,"status":"paid",
 *    "email":"user1234567@mail.example.org","amount":123.45,"is_gift":false,
 *    "created_at":"2026-01-01T00:00:07Z","note":"leave at the door, ...",
 *    "quantity":3,"country":"DE","comment":"...",
 *    "shipping":{"method":"express","cost":12.99}}
 *
 * Free text (note, comment) is made of words, some with commas, double
 * quotes, a backslash or non-ASCII letters ("café", "Zürich", "🎁"); lengths
 * are counted in characters, as pipemend's varchar(n) does. note is null in
 * about 20% of the rows; comment is 0-80 characters, never null.
 *
 * The first rows are pinned to the extremes (row 0: null note, empty
 * comment; row 1: the longest note, comment and email, the largest user id,
 * quantity and amount), so that pipemend, which infers a new table's column
 * types from its first 1000 rows, sees the widest values there and no later
 * row needs a wider column.
 *
 * CSV: the columns pipemend creates, in its order, the nested object
 * flattened to shipping__method and shipping__cost. A null is an empty
 * unquoted field, an empty string is "" (pipemend's CSV reader tells them
 * apart); fields are quoted when they contain a comma, a quote or a line
 * break. Booleans are written as 1/0, the value SQLite stores for them, so
 * that `sqlite3 .import` into pipemend's STRICT table (is_gift INTEGER) takes
 * them as they are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: splitmix64, fixed seed ---------------------------------------- */

static uint64_t rng_state = 0x5eed0f0bdeadbeefULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static long rnd_in(long lo, long hi)
{
    return lo + (long)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ---- vocabulary ----------------------------------------------------------- */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const statuses[] = {"new", "paid", "shipped", "delivered", "refunded"};
/* Weights per mille: most orders are delivered. */
static const int status_weight[] = {80, 150, 200, 520, 50};

static const char *const domains[] = {"example.com", "mail.example.org", "gmail.com", "yahoo.co.uk",
                                      "posteo.de",   "outlook.fr",       "proton.me", "web.de",
                                      "icloud.com",  "fastmail.net",     "libero.it", "seznam.cz"};
#define LONGEST_DOMAIN 1 /* "mail.example.org" */

static const char *const countries[] = {"DE", "FR", "GB", "US", "NL", "IT", "ES", "SE", "PL",
                                        "CZ", "AT", "CH", "BE", "DK", "IE", "PT", "CA", "JP"};

static const struct {
    const char *method;
    int cost_cents;
} shipping[] = {{"standard", 499}, {"express", 1299}, {"overnight", 2499},
                {"pickup", 0},     {"economy", 299},  {"locker", 199}};

static const char *const note_words[] = {
    "please", "leave",   "at",       "the",         "door",       "ring",     "bell",
    "twice,", "gift",    "wrap",     "\"fragile\"", "handle",     "with",     "care,",
    "call",   "before",  "delivery", "neighbour",   "café",       "Zürich",   "naïve",
    "crème",  "brûlée",  "for",      "mum",         "birthday",   "🎁",        "thanks!",
    "no",     "invoice", "in",       "box,",        "side",       "entrance", "floor",
    "3",      "apt.",    "12B",      "\"urgent\"",  "back\\yard", "São",      "Paulo",
    "après",  "midi",    "only",     "weekdays,",   "Łódź",       "straße",   "garage"};

static const char *const comment_words[] = {
    "great",     "service", "arrived",   "late,",     "box",    "was",   "damaged",
    "item",      "as",      "described", "would",     "buy",    "again", "5/5",
    "\"meh\"",   "colour",  "differs",   "from",      "photo,", "fast",  "shipping",
    "très",      "bien",    "merci",     "size",      "runs",   "small", "refund",
    "requested", "😀",       "ok",        "packaging", "could",  "be",    "better,",
    "déjà",      "vu",      "sehr",      "gut",       "👍",      "slow",  "courier"};

/* ---- text ----------------------------------------------------------------- */

/* Words joined by spaces, cut to exactly `chars` characters (never inside a
 * UTF-8 sequence, never ending in a space). Returns the byte length. */
static size_t make_text(char *out, size_t cap, size_t chars, const char *const *words,
                        size_t nwords)
{
    size_t len = 0, n = 0; /* bytes, characters */
    while (n < chars) {
        const char *w = words[rnd() % nwords];
        if (len) {
            out[len++] = ' ';
            n++;
        }
        for (size_t i = 0; w[i] && n < chars; i++) {
            if (((unsigned char)w[i] & 0xC0) != 0x80) {
                /* the first byte of a character: copy the whole character */
                size_t k = 1;
                while (((unsigned char)w[i + k] & 0xC0) == 0x80)
                    k++;
                if (len + k >= cap)
                    break;
                memcpy(out + len, w + i, k);
                len += k;
                n++;
                i += k - 1;
            }
        }
    }
    if (len && out[len - 1] == ' ')
        out[len - 1] = '.';
    out[len] = '\0';
    return len;
}

/* ---- one order ------------------------------------------------------------ */

#define NOTE_MIN 10
#define NOTE_MAX 60
#define COMMENT_MAX 80
#define USER_MAX 2500000
#define QTY_MAX 9
#define AMOUNT_MAX_CENTS 99999 /* 999.99 */

typedef struct order {
    long long order_id;
    long user_id;
    const char *status;
    const char *domain;
    int amount_cents;
    int is_gift;
    char created_at[24];
    int has_note;
    char note[4 * NOTE_MAX + 8];
    int quantity;
    const char *country;
    char comment[4 * COMMENT_MAX + 8];
    int ship;
} order;

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
static void civil(long long z, int *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static long long clock_s = 1767225600LL; /* 2026-01-01T00:00:00Z */

static void make_order(long long i, order *o)
{
    o->order_id = 10000000LL + i;
    o->user_id = rnd_in(1, USER_MAX);
    int w = (int)rnd_in(0, 999), k = 0;
    while (w >= status_weight[k]) {
        w -= status_weight[k];
        k++;
    }
    o->status = statuses[k];
    o->domain = domains[(unsigned long)o->user_id * 2654435761u % COUNT(domains)];
    o->quantity = rnd_in(0, 9) < 6 ? 1 : (int)rnd_in(2, QTY_MAX);
    o->amount_cents = (int)rnd_in(199, 19999);
    if (rnd_in(0, 9) == 0)
        o->amount_cents = (int)rnd_in(20000, AMOUNT_MAX_CENTS);
    o->is_gift = rnd_in(0, 9) == 0;

    clock_s += rnd_in(0, 20);
    int y, mo, d;
    civil(clock_s / 86400, &y, &mo, &d);
    long sod = (long)(clock_s % 86400);
    snprintf(o->created_at, sizeof o->created_at, "%04d-%02d-%02dT%02ld:%02ld:%02ldZ", y, mo, d,
             sod / 3600, sod / 60 % 60, sod % 60);

    o->has_note = rnd_in(0, 9) >= 2;
    size_t note_len = (size_t)rnd_in(NOTE_MIN, NOTE_MAX);
    size_t comment_len = (size_t)rnd_in(0, COMMENT_MAX);
    o->country = countries[rnd() % COUNT(countries)];
    o->ship = (int)(rnd() % COUNT(shipping));

    /* Pinned extremes, see the header comment. */
    if (i == 0) {
        o->has_note = 0;
        comment_len = 0;
    } else if (i == 1) {
        o->has_note = 1;
        note_len = NOTE_MAX;
        comment_len = COMMENT_MAX;
        o->user_id = USER_MAX;
        o->domain = domains[LONGEST_DOMAIN];
        o->quantity = QTY_MAX;
        o->amount_cents = AMOUNT_MAX_CENTS;
    }
    o->note[0] = '\0';
    if (o->has_note)
        make_text(o->note, sizeof o->note, note_len, note_words, COUNT(note_words));
    make_text(o->comment, sizeof o->comment, comment_len, comment_words, COUNT(comment_words));
}

/* ---- output --------------------------------------------------------------- */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

static void csv_str(const char *s)
{
    if (!*s || strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
}

static void emit_json(const order *o)
{
    printf("{\"order_id\":%lld,\"user_id\":%ld,\"status\":\"%s\",\"email\":\"user%ld@%s\","
           "\"amount\":%d.%02d,\"is_gift\":%s,\"created_at\":\"%s\",\"note\":",
           o->order_id, o->user_id, o->status, o->user_id, o->domain, o->amount_cents / 100,
           o->amount_cents % 100, o->is_gift ? "true" : "false", o->created_at);
    if (o->has_note)
        json_str(o->note);
    else
        fputs("null", stdout);
    printf(",\"quantity\":%d,\"country\":\"%s\",\"comment\":", o->quantity, o->country);
    json_str(o->comment);
    printf(",\"shipping\":{\"method\":\"%s\",\"cost\":%d.%02d}}\n", shipping[o->ship].method,
           shipping[o->ship].cost_cents / 100, shipping[o->ship].cost_cents % 100);
}

static void emit_csv(const order *o)
{
    printf("%lld,%ld,%s,user%ld@%s,%d.%02d,%d,%s,", o->order_id, o->user_id, o->status, o->user_id,
           o->domain, o->amount_cents / 100, o->amount_cents % 100, o->is_gift, o->created_at);
    if (o->has_note)
        csv_str(o->note); /* a null note stays an empty unquoted field */
    printf(",%d,%s,", o->quantity, o->country);
    csv_str(o->comment);
    printf(",%s,%d.%02d\r\n", shipping[o->ship].method, shipping[o->ship].cost_cents / 100,
           shipping[o->ship].cost_cents % 100);
}

static int usage(void)
{
    fputs("usage: gen_orders [--csv] ROWS\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    int csv = 0;
    const char *n_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0)
            csv = 1;
        else if (!n_arg && argv[i][0] != '-')
            n_arg = argv[i];
        else
            return usage();
    }
    if (!n_arg)
        return usage();
    char *end;
    long long n = strtoll(n_arg, &end, 10);
    if (*end || n < 0)
        return usage();

    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    if (csv)
        fputs("order_id,user_id,status,email,amount,is_gift,created_at,note,quantity,country,"
              "comment,shipping__method,shipping__cost\r\n",
              stdout);
    order o;
    for (long long i = 0; i < n; i++) {
        make_order(i, &o);
        if (csv)
            emit_csv(&o);
        else
            emit_json(&o);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gen_orders: write");
        return 1;
    }
    return 0;
}
