/* test_rename.c - suspected renames judged across a batch (drift/rename.h):
 * name likeness, the presence rule, values that disagree, refusals, keys
 * that are data, and the findings a row gets. Records come from the real
 * JSON scanner and drift_check, against a hand-made table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drift/rename.h"
#include "source/jscan.h"

typedef struct fixture {
    pm_arena *a;
    pm_table *t;
    drift_ctx *ctx;
    pm_record recs[256];
    rename_row rows[256];
    size_t n;
} fixture;

/* movies(title varchar(32) not null, imdb_rating float64 null,
 *        director varchar(32) null) */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->a = pm_arena_new(0);
    f->t = table_new(f->a, "movies");
    table_add(f->t, f->a, "title", (pm_type){PM_T_VARCHAR, 32}, false);
    table_add(f->t, f->a, "imdb_rating", (pm_type){PM_T_FLOAT64, 0}, true);
    table_add(f->t, f->a, "director", (pm_type){PM_T_VARCHAR, 32}, true);
    f->ctx = drift_ctx_new(f->a, f->t, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pm_arena_free(f->a);
    free(f);
    return 0;
}

/* Adds one JSON line to the batch, checked by drift_check. */
static void add(fixture *f, const char *json)
{
    pm_record *rec = &f->recs[f->n];
    pm_err err;
    memset(rec, 0, sizeof *rec);
    assert_int_equal(jscan_record(json, strlen(json), &(jscan_opts){0}, f->a, rec, &err), PM_OK);
    drift_result res;
    drift_check(f->ctx, rec, f->a, &res);
    f->rows[f->n] =
        (rename_row){rec, res.nfindings ? NULL : res.cells, res.findings, res.nfindings};
    f->n++;
}

static void test_similarity(void **state)
{
    (void)state;
    assert_true(rename_similarity("imdb_rating", "imdb__rating") == 1.0);
    assert_true(rename_similarity("customer_email", "email") >= RENAME_NAME_SIMILAR);
    assert_true(rename_similarity("imdb_score", "imdb_rating") >= RENAME_NAME_SIMILAR);
    assert_true(rename_similarity("production_budget", "director") < RENAME_NAME_SOME);
    assert_true(rename_similarity("a", "b") == 0.0);
}

static void test_renamed_nullable_column(void **state)
{
    fixture *f = *state;
    char line[160];
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line, "{\"title\": \"m%d\", \"IMDB Score\": %d.5}", i, i % 9);
        add(f, line);
    }
    rename_pair *p;
    size_t n = rename_suspects(f->t, f->rows, f->n, NULL, 0, f->a, &p);
    assert_int_equal(n, 1);
    assert_string_equal(p[0].name, "imdb_score");
    assert_string_equal(f->t->cols[p[0].col].name, "imdb_rating");
    assert_int_equal(p[0].rows, 10);
    assert_int_equal(p[0].absent, 10);
    pm_finding *out;
    size_t nout;
    assert_true(rename_mark(f->t, p, n, &f->rows[0], f->a, &out, &nout));
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].kind, FINDING_NEW_FIELD);
    assert_int_equal(out[1].kind, FINDING_RENAME);
    assert_string_equal(out[1].field, "IMDB Score");
    assert_string_equal(out[1].column, "imdb_rating");
    /* a person said no: not suspected again */
    rename_refusal no = {"imdb_score", "imdb_rating"};
    assert_int_equal(rename_suspects(f->t, f->rows, f->n, &no, 1, f->a, &p), 0);
}

static void test_column_still_arriving_is_no_rename(void **state)
{
    fixture *f = *state;
    char line[160];
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line,
                 "{\"title\": \"m%d\", \"imdb_rating\": 5.5, \"IMDB Score\": %d.5}", i, i % 9);
        add(f, line);
    }
    rename_pair *p;
    assert_int_equal(rename_suspects(f->t, f->rows, f->n, NULL, 0, f->a, &p), 0);
}

static void test_values_that_disagree(void **state)
{
    fixture *f = *state;
    char line[200];
    /* director arrives with short names, then stops while "director_bio"
     * arrives with long texts: the names share a word, the values do not */
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line, "{\"title\": \"m%d\", \"director\": \"D %d\"}", i, i);
        add(f, line);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(line, sizeof line,
                 "{\"title\": \"n%d\", \"director_bio\": \"born in a small town by the sea, "
                 "studied film for years, then made %d films\"}",
                 i, i);
        add(f, line);
    }
    rename_pair *p;
    assert_int_equal(rename_suspects(f->t, f->rows, f->n, NULL, 0, f->a, &p), 0);
}

static void test_keys_that_are_data(void **state)
{
    fixture *f = *state;
    char line[160];
    for (int i = 0; i < RENAME_MAX_NEW + 1; i++) {
        snprintf(line, sizeof line, "{\"title\": \"m%d\", \"imdb_rating_%d\": 5.5}", i, i);
        add(f, line);
    }
    rename_pair *p;
    assert_int_equal(rename_suspects(f->t, f->rows, f->n, NULL, 0, f->a, &p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_similarity),
        cmocka_unit_test_setup_teardown(test_renamed_nullable_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_column_still_arriving_is_no_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_that_disagree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_that_are_data, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
