/* test_http_token.c - the rules a serve token must meet (http/token.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/token.h"

static void refused(const char *tok, const char *why)
{
    pm_err err = {0};
    assert_int_equal(http_token_check(tok, "T", &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, why));
    assert_null(strstr(err.msg, tok[0] ? tok : "\x01")); /* the token is never echoed */
    assert_non_null(strstr(err.hint, "openssl rand -hex 32"));
}

static void test_token_rules(void **state)
{
    pm_err err = {0};
    assert_int_equal(http_token_check("0123456789abcdef0123456789abcdef", "T", &err), PM_OK);
    assert_int_equal(http_token_check("e2e-token-0123456789abcdef0123456789abcdef", "T", &err),
                     PM_OK);
    refused("", "shorter than 32");
    refused("0123456789abcdef0123456789abcde", "shorter than 32");
    refused("                ", "space");
    refused("                                ", "space");
    refused("0123456789abcdef 0123456789abcdef", "space");
    refused("0123456789abcdef\t0123456789abcdef", "control");
    refused("0123456789abcdef\x7f"
            "0123456789abcdef",
            "control");
    refused("0123456789abcdef\xc3\xa9"
            "0123456789abcdef",
            "non-ASCII");
    refused("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "fewer than 8 distinct");
    refused("abcdefgabcdefgabcdefgabcdefgabcdefg", "fewer than 8 distinct");
    assert_int_equal(http_token_check("abcdefghabcdefghabcdefghabcdefgh", "T", &err), PM_OK);
    char big[HTTP_TOKEN_MAX + 2];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = 0;
    refused(big, "longer than 512");
    big[HTTP_TOKEN_MAX] = 0;
    assert_int_equal(http_token_check(big, "T", &err), PM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_token_rules)};
    return cmocka_run_group_tests_name("http_token", tests, NULL, NULL);
}
