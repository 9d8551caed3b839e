/* test_volume.c - the median-based volume check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/volume.h"

static void test_volume(void **state)
{
    char note[256];
    int64_t few[] = {1000, 1000};
    assert_false(volume_is_anomaly(few, 2, 1, 0.2, note, sizeof note)); /* no history yet */
    int64_t h[] = {1000, 980, 1020, 1000000, 990};                      /* one backfill */
    assert_false(volume_is_anomaly(h, 5, 900, 0.2, note, sizeof note));
    assert_true(volume_is_anomaly(h, 5, 10, 0.2, note, sizeof note));
    assert_non_null(strstr(note, "median 1000 of the last 5 runs"));
    int64_t zeros[] = {0, 0, 0, 5};
    assert_false(volume_is_anomaly(zeros, 4, 0, 0.2, note, sizeof note));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_volume)};
    return cmocka_run_group_tests_name("volume", tests, NULL, NULL);
}
