/* test_lifecycle.c - run statuses (store/run.h) and proposal states
 * (store/proposal.h): names round-trip, and the move tables are the
 * diagrams in the headers, edge by edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/proposal.h"
#include "store/run.h"

static void run_moves_are_the_diagram(void **state)
{
    (void)state;
    /* running -> every final status; nothing else moves */
    static const bool edge[RUN_STATUS_COUNT][RUN_STATUS_COUNT] = {
        [RUN_RUNNING] = {[RUN_SUCCEEDED] = true,
                         [RUN_QUARANTINED] = true,
                         [RUN_HELD] = true,
                         [RUN_FAILED] = true,
                         [RUN_ABORTED] = true,
                         [RUN_STOPPED] = true},
    };
    for (int f = 0; f < RUN_STATUS_COUNT; f++)
        for (int t = 0; t < RUN_STATUS_COUNT; t++)
            assert_int_equal(run_status_can_move(f, t), edge[f][t]);
}

static void run_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < RUN_STATUS_COUNT; s++) {
        pm_run_status back;
        assert_true(run_status_parse(run_status_name(s), &back));
        assert_int_equal(back, s);
    }
    pm_run_status x;
    assert_false(run_status_parse("Running", &x));
    assert_false(run_status_parse("", &x));
    assert_false(run_status_parse(NULL, &x));
    assert_string_equal(run_status_name(RUN_HELD), "held");
    assert_true(run_status_needs_attention(RUN_ABORTED));
    assert_false(run_status_needs_attention(RUN_SUCCEEDED));
    assert_false(run_status_needs_attention(RUN_STOPPED)); /* asked for; it resumes */
    assert_false(run_status_needs_attention(RUN_RUNNING));
}

static void proposal_moves_are_the_diagram(void **state)
{
    (void)state;
    static const bool edge[PROP_STATE_COUNT][PROP_STATE_COUNT] = {
        [PROP_PENDING] = {[PROP_APPLIED] = true, [PROP_REJECTED] = true, [PROP_SUPERSEDED] = true},
    };
    for (int f = 0; f < PROP_STATE_COUNT; f++)
        for (int t = 0; t < PROP_STATE_COUNT; t++)
            assert_int_equal(proposal_state_can_move(f, t), edge[f][t]);
}

static void proposal_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < PROP_STATE_COUNT; s++) {
        pm_proposal_state back;
        assert_true(proposal_state_parse(proposal_state_name(s), &back));
        assert_int_equal(back, s);
    }
    pm_proposal_state x;
    assert_false(proposal_state_parse("approved", &x));
    assert_string_equal(proposal_state_name(PROP_SUPERSEDED), "superseded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_moves_are_the_diagram),
        cmocka_unit_test(run_names_round_trip),
        cmocka_unit_test(proposal_moves_are_the_diagram),
        cmocka_unit_test(proposal_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
