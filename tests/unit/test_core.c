/* test_core.c - arena, bounded buffer, UTF-8 and error convention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/netaddr.h"
#include "core/utf8.h"

static int cleanups_ran;
static void count_cleanup(void *arg)
{
    cleanups_ran += *(int *)arg;
}

static void test_arena_alloc_reset(void **state)
{
    pm_arena *a = pm_arena_new(1024);
    char *p = pm_arena_alloc(a, 10);
    assert_true(((uintptr_t)p & 15) == 0);
    char *big = pm_arena_alloc(a, 100000); /* its own block */
    memset(big, 'x', 100000);
    char *s = pm_arena_sprintf(a, "%s-%d", "run", 42);
    assert_string_equal(s, "run-42");
    assert_string_equal(pm_arena_strndup(a, "abcdef", 3), "abc");
    static int one = 1;
    pm_arena_on_reset(a, count_cleanup, &one);
    pm_arena_on_reset(a, count_cleanup, &one);
    assert_true(pm_arena_used(a) >= 100000);
    pm_arena_reset(a);
    assert_int_equal(cleanups_ran, 2);
    assert_int_equal(pm_arena_used(a), 0);
    /* memory is reusable after reset, many times over */
    for (int i = 0; i < 1000; i++) {
        pm_arena_alloc(a, 900);
        pm_arena_reset(a);
    }
    pm_arena_free(a);
    assert_int_equal(cleanups_ran, 2);
}

/* pm_arena_recycle keeps the arena's standard blocks and hands the same
 * memory out again; cleanups still run, oversized blocks are released,
 * and pm_arena_reset afterwards gives the spare blocks back. */
static void test_arena_recycle(void **state)
{
    (void)state;
    pm_arena *a = pm_arena_new(1024);
    int one = 1;
    cleanups_ran = 0;
    /* 200 bytes (208 rounded) are served from blocks, four to a block: 32
     * of them fill the first block and 7 more (over 256 bytes, a quarter of
     * a block, would get a block of their own, which recycling frees) */
    char *seen[32];
    for (int i = 0; i < 32; i++) {
        seen[i] = pm_arena_alloc(a, 200);
        memset(seen[i], 'a' + i % 26, 200);
    }
    pm_arena_alloc(a, 100000); /* oversized: released */
    pm_arena_on_reset(a, count_cleanup, &one);
    pm_arena_recycle(a);
    assert_int_equal(cleanups_ran, 1);
    assert_int_equal(pm_arena_used(a), 0);
    /* the next round is served from the kept blocks, whatever malloc does */
    int reused = 0;
    for (int i = 0; i < 32; i++) {
        char *p = pm_arena_alloc(a, 200);
        for (int k = 0; k < 32; k++)
            reused += p == seen[k];
        memset(p, 'z', 200);
    }
    assert_int_equal(reused, 32);
    assert_int_equal(pm_arena_used(a), 32 * 208);
    pm_arena_reset(a);
    assert_non_null(pm_arena_alloc(a, 900));
    pm_arena_free(a);
}

static void test_buf_limit(void **state)
{
    pm_buf b;
    pm_buf_init(&b, 8);
    pm_err err;
    assert_int_equal(pm_buf_puts(&b, "12345678", &err), PM_OK);
    assert_int_equal(pm_buf_putc(&b, '9', &err), PM_ERR_LIMIT);
    assert_string_equal(err.msg, "buffer would exceed its limit of 8 bytes");
    assert_int_equal(b.len, 8); /* unchanged by the failed append */
    assert_string_equal(b.data, "12345678");
    pm_buf_free(&b);
}

static void test_buf_json_str(void **state)
{
    pm_buf b;
    pm_buf_init(&b, 1024);
    assert_int_equal(pm_buf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff", 10, NULL), PM_OK);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
    pm_buf_free(&b);
}

static void test_utf8(void **state)
{
    assert_true(pm_utf8_valid("plain ascii text long enough", 28));
    assert_true(pm_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_int_equal(pm_utf8_check("ab\xc0\xaf", 4), 2);        /* overlong */
    assert_int_equal(pm_utf8_check("ab\xed\xa0\x80", 5), 2);    /* surrogate */
    assert_int_equal(pm_utf8_check("\xf4\x90\x80\x80", 4), 0);  /* > U+10FFFF */
    assert_int_equal(pm_utf8_check("abcdefgh\xe2\x82", 10), 8); /* truncated */
    char out[4];
    assert_int_equal(pm_utf8_encode(0x20AC, out), 3);
    assert_memory_equal(out, "\xe2\x82\xac", 3);
    assert_int_equal(pm_utf8_truncate("a\xc3\xa9", 3, 2), 1);
}

static void test_err(void **state)
{
    pm_err err;
    assert_int_equal(pm_err_set(&err, PM_ERR_CONFIG, "bad %s", "key"), PM_ERR_CONFIG);
    pm_err_hint(&err, "try %d", 1);
    assert_string_equal(err.msg, "bad key");
    assert_string_equal(err.hint, "try 1");
    assert_string_equal(pm_code_name(PM_ERR_CONFIG), "PM_ERR_CONFIG");
    assert_string_equal(pm_code_text(PM_ERR_PARSE), "malformed input");
    assert_int_equal(pm_err_set(NULL, PM_ERR_IO, "ignored"), PM_ERR_IO);
}

static bool in_range(const char *range, const char *addr)
{
    pm_netrange r;
    assert_true(pm_netrange_parse(range, &r));
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, addr, &v4.sin_addr) == 1)
        return pm_netrange_match(&r, (struct sockaddr *)&v4);
    assert_int_equal(inet_pton(AF_INET6, addr, &v6.sin6_addr), 1);
    return pm_netrange_match(&r, (struct sockaddr *)&v6);
}

static void test_netrange(void **state)
{
    pm_netrange r;
    const char *bad[] = {"",          "10.0.0",      "10.0.0.256",  "10.0.0.0/33", "::1/129",
                         "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "localhost",   "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(pm_netrange_parse(bad[i], &r));
    assert_true(in_range("127.0.0.1", "127.0.0.1"));
    assert_false(in_range("127.0.0.1", "127.0.0.2"));
    assert_true(in_range("10.0.0.0/8", "10.255.1.2"));
    assert_false(in_range("10.0.0.0/8", "11.0.0.1"));
    assert_true(in_range("192.168.4.0/22", "192.168.7.255"));
    assert_false(in_range("192.168.4.0/22", "192.168.8.0"));
    assert_true(in_range("0.0.0.0/0", "8.8.8.8"));
    assert_false(in_range("0.0.0.0/0", "::1")); /* families apart */
    assert_true(in_range("::1", "::1"));
    assert_true(in_range("fd00::/8", "fd12:3456::1"));
    assert_false(in_range("fd00::/8", "fe80::1"));
    /* an IPv4 peer on an IPv6 socket */
    assert_true(in_range("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(in_range("10.0.0.0/8", "::ffff:11.1.2.3"));
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alloc_reset),
        cmocka_unit_test(test_arena_recycle),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_netrange),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
