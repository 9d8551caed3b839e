/* sqlite_floor.c - SQLite's write floor for the ingest benchmark.
 *
 *   cc -std=c11 -O2 -o build/bench/sqlite_floor bench/sqlite_floor.c -lsqlite3
 *   sqlite_floor DB CSV BATCH
 *
 * DB holds the table `orders` (pipemend's STRICT table, empty); CSV holds
 * the same rows as the NDJSON file (bench/gen_orders.c --csv: RFC 4180 with
 * a header row, a null an empty unquoted field, "" an empty string).
 *
 * First, untimed, every row is parsed and typed in memory by the column's
 * declared type (INTEGER to int64, REAL to double, anything else text, an
 * empty unquoted field to NULL): what is left is only SQLite's own work.
 * Then, timed, the rows go in through one prepared INSERT with pipemend's
 * PRAGMAs (src/store/sqlite.c) and its batch size, a transaction per BATCH
 * rows, each value bound as pipemend binds it (text SQLITE_STATIC). That is
 * the floor: no engine that inserts rows through SQLite's API with the same
 * durability can do less work.
 *
 * Prints one line: "insert SECONDS s, cpu SECONDS s, ROWS rows". Standalone
 * C11 with SQLite; no pipemend code, so the floor does not move with it. */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C_NULL, C_INT, C_REAL, C_TEXT };

typedef struct cell {
    int kind;
    int len;
    union {
        int64_t i;
        double d;
        const char *s;
    } v;
} cell;

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "sqlite_floor: %s%s%s\n", what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(sql, db);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the CSV", NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("cannot read the CSV", NULL);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* One CSV field at *p, unquoted in place (unquoting only shrinks it).
 * Sets *quoted, *last (the record ends after it); returns its start. */
static char *field(char **p, char *end, size_t *len, int *quoted, int *last)
{
    char *s = *p, *w = s, *r = s;
    *quoted = r < end && *r == '"';
    if (*quoted) {
        for (r++;; r++) {
            if (r >= end)
                die("an unterminated quoted field", NULL);
            if (*r == '"') {
                if (r + 1 < end && r[1] == '"')
                    r++;
                else {
                    r++;
                    break;
                }
            }
            *w++ = *r;
        }
    } else {
        while (r < end && *r != ',' && *r != '\n')
            *w++ = *r++;
        if (w > s && w[-1] == '\r')
            w--;
    }
    if (r < end && *r == '\r')
        r++;
    *last = r >= end || *r == '\n';
    *p = r < end ? r + 1 : r;
    *len = (size_t)(w - s);
    return s;
}

static double secs(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sqlite_floor DB CSV BATCH\n");
        return 2;
    }
    long batch = atol(argv[3]);
    if (batch <= 0)
        die("BATCH must be a positive number of rows", NULL);
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        die("cannot open the database", db);
    exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
             "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;");

    /* the columns and their declared types */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, upper(type) FROM pragma_table_info('orders') ORDER BY cid",
                           -1, &st, NULL) != SQLITE_OK)
        die("cannot read the table", db);
    int kinds[256], ncols = 0;
    char sql[8192];
    size_t o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO orders VALUES (");
    while (sqlite3_step(st) == SQLITE_ROW && ncols < 256) {
        const char *ty = (const char *)sqlite3_column_text(st, 1);
        kinds[ncols] = strstr(ty, "INT") ? C_INT : strstr(ty, "REAL") ? C_REAL : C_TEXT;
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%s?", ncols ? ", " : "");
        ncols++;
    }
    sqlite3_finalize(st);
    if (!ncols)
        die("the database has no table orders", NULL);
    snprintf(sql + o, sizeof sql - o, ")");

    /* untimed: parse and type every row */
    size_t len;
    char *buf = slurp(argv[2], &len), *p = buf, *end = buf + len;
    while (p < end && *p++ != '\n') /* the header */
        ;
    size_t cap = 1 << 20, nrows = 0;
    cell *cells = malloc(cap * (size_t)ncols * sizeof *cells);
    while (p < end) {
        if (nrows == cap) {
            cap *= 2;
            cells = realloc(cells, cap * (size_t)ncols * sizeof *cells);
        }
        if (!cells)
            die("out of memory", NULL);
        cell *row = cells + nrows * (size_t)ncols;
        for (int c = 0; c < ncols; c++) {
            size_t n;
            int quoted, last;
            char *s = field(&p, end, &n, &quoted, &last);
            if (last != (c == ncols - 1))
                die("a row with the wrong number of fields", NULL);
            cell *x = &row[c];
            if (!quoted && n == 0) {
                x->kind = C_NULL;
                continue;
            }
            char *e;
            s[n] = '\0'; /* over the separator, already passed */
            if (kinds[c] == C_INT) {
                x->kind = C_INT;
                x->v.i = strtoll(s, &e, 10);
            } else if (kinds[c] == C_REAL) {
                x->kind = C_REAL;
                x->v.d = strtod(s, &e);
            } else {
                x->kind = C_TEXT;
                x->v.s = s;
                x->len = (int)n;
                e = s + n;
            }
            if (e != s + n)
                die("a value that is not of its column's type", NULL);
        }
        nrows++;
    }

    /* timed: the inserts */
    double t0 = secs(CLOCK_MONOTONIC), c0 = secs(CLOCK_PROCESS_CPUTIME_ID);
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        die("cannot prepare the insert", db);
    for (size_t r = 0; r < nrows; r++) {
        if (r % (size_t)batch == 0)
            exec(db, "BEGIN");
        const cell *row = cells + r * (size_t)ncols;
        for (int c = 0; c < ncols; c++) {
            const cell *x = &row[c];
            switch (x->kind) {
            case C_NULL:
                sqlite3_bind_null(st, c + 1);
                break;
            case C_INT:
                sqlite3_bind_int64(st, c + 1, x->v.i);
                break;
            case C_REAL:
                sqlite3_bind_double(st, c + 1, x->v.d);
                break;
            default:
                sqlite3_bind_text64(st, c + 1, x->v.s, (sqlite3_uint64)x->len, SQLITE_STATIC,
                                    SQLITE_UTF8);
            }
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            die("cannot insert a row", db);
        sqlite3_reset(st);
        if (r % (size_t)batch == (size_t)batch - 1 || r == nrows - 1)
            exec(db, "COMMIT");
    }
    sqlite3_finalize(st);
    if (sqlite3_close(db) != SQLITE_OK)
        die("cannot close the database", db);
    printf("insert %.3f s, cpu %.3f s, %zu rows\n", secs(CLOCK_MONOTONIC) - t0,
           secs(CLOCK_PROCESS_CPUTIME_ID) - c0, nrows);
    free(cells);
    free(buf);
    return 0;
}
