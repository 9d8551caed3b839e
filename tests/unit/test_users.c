/* test_users.c - the users file (daemon/users.h): names and roles, a token
 * kept only as its hash, the file's shape and permissions, and serve's view
 * that finds a user by token and follows the file when it changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/users.h"

static char dir[] = "/tmp/pm-users-XXXXXX";
static char path[256];

static int setup(void **state)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub/users.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_names_and_roles(void **state)
{
    users_role r;
    assert_true(users_role_parse("viewer", &r) && r == USERS_VIEWER);
    assert_true(users_role_parse("operator", &r) && r == USERS_OPERATOR);
    assert_true(users_role_parse("agent", &r) && r == USERS_AGENT);
    assert_false(users_role_parse("admin", &r));
    assert_false(users_role_parse(NULL, &r));
    assert_string_equal(users_role_name(USERS_AGENT), "agent");
    assert_true(users_name_ok("alice.b-c_9"));
    assert_false(users_name_ok(""));
    assert_false(users_name_ok("-x"));
    assert_false(users_name_ok(".x"));
    assert_false(users_name_ok("a b"));
    assert_false(users_name_ok("a\"b"));
    assert_false(users_name_ok("human:x"));
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = 0;
    assert_false(users_name_ok(long_name));
    long_name[64] = 0;
    assert_true(users_name_ok(long_name));
}

static void test_add_keeps_the_hash_only(void **state)
{
    pm_err err = {0};
    char alice[65], bob[65];
    assert_int_equal(users_add(path, "alice", USERS_OPERATOR, alice, &err), PM_OK);
    assert_int_equal(users_add(path, "bob", USERS_VIEWER, bob, &err), PM_OK);
    assert_int_equal(strlen(alice), 64);
    assert_string_not_equal(alice, bob);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    const char *text = slurp(path);
    assert_null(strstr(text, alice));
    assert_null(strstr(text, bob));
    unsigned char h[32];
    unsigned int hl;
    EVP_Digest(alice, 64, h, &hl, EVP_sha256(), NULL);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    assert_non_null(strstr(text, hex));

    users_list l;
    bool exists;
    assert_int_equal(users_load(path, &l, &exists, &err), PM_OK);
    assert_true(exists);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "alice");
    assert_int_equal(l.v[0].role, USERS_OPERATOR);
    assert_memory_equal(l.v[0].hash, h, 32);
    users_list_free(&l);

    char again[65];
    assert_int_equal(users_add(path, "alice", USERS_VIEWER, again, &err), PM_ERR_CONFIG);
    assert_int_equal(users_add(path, "bad name", USERS_VIEWER, again, &err), PM_ERR_CONFIG);
    assert_int_equal(users_remove(path, "bob", &err), PM_OK);
    assert_int_equal(users_remove(path, "bob", &err), PM_ERR_NOTFOUND);
    assert_int_equal(users_remove(path, "alice", &err), PM_OK);
}

static void test_missing_file_is_empty(void **state)
{
    char p[300];
    snprintf(p, sizeof p, "%s/none.yaml", dir);
    users_list l;
    bool exists = true;
    pm_err err = {0};
    assert_int_equal(users_load(p, &l, &exists, &err), PM_OK);
    assert_false(exists);
    assert_int_equal(l.n, 0);
}

static void write_file(const char *p, const char *text, mode_t mode)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static void test_bad_files_are_refused(void **state)
{
    char p[300];
    snprintf(p, sizeof p, "%s/bad.yaml", dir);
    static const char *const bad[] = {
        "users: 3\n",
        "people: []\n",
        "users:\n  - name: a\n    role: root\n    token_sha256: " /* a bad role */
        "0000000000000000000000000000000000000000000000000000000000000000\n",
        "users:\n  - name: a\n    role: viewer\n    token_sha256: 00\n",
        "users:\n  - name: a\n    role: viewer\n    token: x\n",
        "users:\n  - {name: a, role: viewer, token_sha256: "
        "0000000000000000000000000000000000000000000000000000000000000000}\n"
        "  - {name: a, role: agent, token_sha256: "
        "1111111111111111111111111111111111111111111111111111111111111111}\n",
        "users: [\n",
    };
    pm_err err = {0};
    users_list l;
    bool exists;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(p, bad[i], 0600);
        assert_int_equal(users_load(p, &l, &exists, &err), PM_ERR_CONFIG);
        assert_non_null(strstr(err.msg, p));
    }
    write_file(p, "users:\n", 0600);
    assert_int_equal(users_load(p, &l, &exists, &err), PM_OK);
    assert_int_equal(l.n, 0);
    users_list_free(&l);
    /* others may write it: refused, whatever it says */
    write_file(p, "users: []\n", 0620);
    assert_int_equal(users_load(p, &l, &exists, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "no one else may write"));
}

static void test_db_finds_by_token_and_follows_the_file(void **state)
{
    pm_err err = {0};
    char a[65], b[65];
    assert_int_equal(users_add(path, "ann", USERS_AGENT, a, &err), PM_OK);
    users_db *db = users_db_open(path, &err);
    assert_non_null(db);
    const users_user *u = users_db_find(db, a);
    assert_non_null(u);
    assert_string_equal(u->name, "ann");
    assert_int_equal(u->role, USERS_AGENT);
    assert_null(
        users_db_find(db, "0000000000000000000000000000000000000000000000000000000000000000"));
    assert_null(users_db_find(db, ""));
    assert_null(users_db_find(db, NULL));
    char almost[65];
    memcpy(almost, a, 65);
    almost[63] = almost[63] == '0' ? '1' : '0';
    assert_null(users_db_find(db, almost));
    /* added and removed while open */
    assert_int_equal(users_add(path, "ben", USERS_OPERATOR, b, &err), PM_OK);
    u = users_db_find(db, b);
    assert_non_null(u);
    assert_string_equal(u->name, "ben");
    assert_int_equal(users_db_count(db), 2);
    assert_int_equal(users_remove(path, "ann", &err), PM_OK);
    assert_null(users_db_find(db, a));
    /* broken by hand: the users read before stay */
    write_file(path, "users: [\n", 0600);
    assert_non_null(users_db_find(db, b));
    users_db_free(db);
}

int main(void)
{
    pm_log_set_level(PM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_roles),
        cmocka_unit_test(test_add_keeps_the_hash_only),
        cmocka_unit_test(test_missing_file_is_empty),
        cmocka_unit_test(test_bad_files_are_refused),
        cmocka_unit_test(test_db_finds_by_token_and_follows_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
