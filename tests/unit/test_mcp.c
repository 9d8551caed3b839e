/* test_mcp.c - the generic MCP part through its one entry point,
 * mcp_handle(): JSON-RPC framing and errors, ids echoed byte for byte,
 * notifications never answered, oversized and truncated messages, the
 * lifecycle and protocol negotiation, tools/list pages, tools/call
 * failures of every kind, batches per revision, resources (static, templates,
 * -32002) and prompts (argument checks), and the stdio transport over a
 * real pipe. The tools here are fixtures, not pipemend's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/log.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"

/* ---- fixtures --------------------------------------------------------------- */

static json_t *echo_call(void *ctx, json_t *args, mcp_call *call)
{
    int *calls = ctx;
    (*calls)++;
    return json_pack("{s:O, s:s}", "args", args, "client", mcp_call_client_name(call));
}

static json_t *fail_call(void *ctx, json_t *args, mcp_call *call)
{
    mcp_call_fail(call, "table \"%s\" does not exist; list_tables names the tables",
                  json_string_value(json_object_get(args, "table")));
    return NULL;
}

static json_t *liar_call(void *ctx, json_t *args, mcp_call *call)
{
    return json_pack("{s:s}", "count", "many"); /* its schema says integer */
}

#define ANY_ARGS "{\"type\":\"object\"}"
#define RO                                                                                         \
    {                                                                                              \
        .read_only = true, .idempotent = true                                                      \
    }

static const mcp_tool fixture_tools[] = {
    {"echo", "Echo", "returns its arguments",
     "{\"type\":\"object\",\"required\":[\"table\"],\"additionalProperties\":false,"
     "\"properties\":{\"table\":{\"type\":\"string\",\"maxLength\":8},"
     "\"limit\":{\"type\":\"integer\",\"minimum\":1},"
     "\"mode\":{\"enum\":[\"fast\",\"slow\"]},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
     "{\"type\":\"object\",\"required\":[\"args\"]}", RO, echo_call},
    {"fails", "Fails", "always fails",
     "{\"type\":\"object\",\"properties\":{\"table\":{\"type\":\"string\"}}}", NULL, RO, fail_call},
    {"liar", NULL, NULL, ANY_ARGS,
     "{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"}}}", RO, liar_call},
    {"t4", NULL, NULL, ANY_ARGS, NULL, RO, echo_call},
    {"t5", NULL, NULL, ANY_ARGS, NULL, {.destructive = true, .open_world = true}, echo_call},
};
#define NFIXTURES (sizeof fixture_tools / sizeof fixture_tools[0])

static int calls;

static mcp_server *server(size_t page, size_t max_message)
{
    mcp_server_info info = {
        .name = "test", .version = "9.9", .page_size = page, .max_message = max_message};
    mcp_server *s = mcp_server_new(&info);
    assert_non_null(s);
    pm_err err = {0};
    assert_int_equal(mcp_server_add_tools(s, fixture_tools, NFIXTURES, &calls, &err), PM_OK);
    return s;
}

/* The raw response to msg ("" when none), caller frees. */
static char *ask_raw(mcp_server *s, const char *msg)
{
    pm_buf out;
    pm_buf_init(&out, 1 << 20);
    assert_int_equal(mcp_handle(s, msg, strlen(msg), &out), PM_OK);
    char *r = strdup(out.data ? out.data : "");
    pm_buf_free(&out);
    assert_null(strchr(r, '\n')); /* one line, whatever the content */
    return r;
}

/* The parsed response to msg, NULL when none. */
static json_t *ask(mcp_server *s, const char *msg)
{
    char *raw = ask_raw(s, msg);
    json_t *v = NULL;
    if (*raw) {
        json_error_t je;
        v = json_loads(raw, 0, &je);
        if (!v)
            fail_msg("response is not JSON: %s (%s)", raw, je.text);
    }
    free(raw);
    return v;
}

static int error_code(json_t *r)
{
    json_t *e = json_object_get(r, "error");
    assert_non_null(e);
    assert_null(json_object_get(r, "result"));
    assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
    assert_true(json_is_string(json_object_get(e, "message")));
    return (int)json_integer_value(json_object_get(e, "code"));
}

static void expect_error(mcp_server *s, const char *msg, int code, bool id_null)
{
    json_t *r = ask(s, msg);
    if (!r)
        fail_msg("no answer to %s", msg);
    assert_int_equal(error_code(r), code);
    assert_int_equal(json_is_null(json_object_get(r, "id")), id_null);
    json_decref(r);
}

static void init(mcp_server *s, const char *version)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},"
             "\"clientInfo\":{\"name\":\"claude\",\"version\":\"1\"}}}",
             version);
    json_t *r = ask(s, msg);
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
    assert_null(ask(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
}

static json_t *call_tool(mcp_server *s, const char *name, const char *args)
{
    char msg[1000];
    snprintf(msg, sizeof msg,
             "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\""
             "%s%s}}",
             name, args ? ",\"arguments\":" : "", args ? args : "");
    return ask(s, msg);
}

/* ---- JSON-RPC framing -------------------------------------------------- */

static void test_parse_errors(void **state)
{
    mcp_server *s = server(0, 0);
    expect_error(s, "{bad", JSONRPC_PARSE_ERROR, true);
    expect_error(s, "", JSONRPC_PARSE_ERROR, true);
    /* truncated: the line ended before the object did */
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"", JSONRPC_PARSE_ERROR, true);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x", JSONRPC_PARSE_ERROR,
                 true);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\"}", JSONRPC_PARSE_ERROR,
                 true);
    /* a NUL inside the message is not JSON */
    pm_buf out;
    pm_buf_init(&out, 1 << 16);
    const char nul[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pi\0ng\"}";
    assert_int_equal(mcp_handle(s, nul, sizeof nul - 1, &out), PM_OK);
    assert_non_null(strstr(out.data, "-32700"));
    pm_buf_free(&out);
    mcp_server_free(s);
}

static void test_invalid_requests(void **state)
{
    mcp_server *s = server(0, 0);
    init(s, "2025-11-25");
    expect_error(s, "\"hello\"", JSONRPC_INVALID_REQUEST, true);
    expect_error(s, "42", JSONRPC_INVALID_REQUEST, true);
    expect_error(s, "null", JSONRPC_INVALID_REQUEST, true);
    /* the id is readable: it is echoed even though the request is invalid */
    expect_error(s, "{\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST, false);
    expect_error(s, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
                 false);
    expect_error(s, "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", JSONRPC_INVALID_REQUEST,
                 false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID_REQUEST, false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", JSONRPC_INVALID_REQUEST, false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
                 JSONRPC_INVALID_REQUEST, false);
    /* ids MCP forbids: null, fractions, booleans, objects, arrays */
    const char *bad_ids[] = {"null", "1.5", "1.0", "1e3", "true", "false", "{}", "[1]"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char msg[200];
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}",
                 bad_ids[i]);
        expect_error(s, msg, JSONRPC_INVALID_REQUEST, true);
    }
    /* invalid without an id: still answered (it is no valid notification) */
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
                 JSONRPC_INVALID_REQUEST, true);
    /* params as an array is JSON-RPC, but MCP methods take objects */
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}",
                 JSONRPC_INVALID_PARAMS, false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/nope\"}",
                 JSONRPC_METHOD_NOT_FOUND, false);
    mcp_server_free(s);
}

static void test_ids_echoed_exactly(void **state)
{
    mcp_server *s = server(0, 0);
    const char *ids[] = {
        "0",
        "-7",
        "9223372036854775807",
        "-9223372036854775808",
        "123456789012345678901234567890",
        "\"\"",
        "\"a\\\"b\\\\c\\u00e9\\n\"",
        "\"\\u0041\"",
        "\"\xc3\xbcn\xc3\xaf\"",
        "\"1\"",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char msg[300], want[300];
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\", \"id\" : %s ,\"method\":\"ping\"}",
                 ids[i]);
        snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}", ids[i]);
        char *got = ask_raw(s, msg);
        assert_string_equal(got, want);
        free(got);
        /* and in an error response */
        snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"nope\"}", ids[i]);
        snprintf(want, sizeof want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":", ids[i]);
        got = ask_raw(s, msg);
        assert_memory_equal(got, want, strlen(want));
        free(got);
    }
    /* a key twice in one object, at any depth, is not a message: which
     * value counts would depend on the reader */
    const char *dups[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":\"two\",\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"method\":\"nope\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":{\"b\":[{\"c\":1,"
        "\"c\":2}]}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":1,\"\\u0078\":2}}",
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        char *got = ask_raw(s, dups[i]);
        const char *want = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                           "\"message\":\"Parse error: duplicate object key";
        assert_memory_equal(got, want, strlen(want));
        free(got);
    }
    mcp_server_free(s);
}

static void test_notifications_never_answered(void **state)
{
    mcp_server *s = server(0, 0);
    const char *msgs[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\"}", /* before initialize, too */
        "{\"jsonrpc\":\"2.0\",\"method\":\"no/such\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}",
        /* responses from the client await nothing here */
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"x\"}}",
    };
    for (int round = 0; round < 2; round++) { /* before initialize and after */
        if (round)
            init(s, "2025-11-25");
        for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
            char *got = ask_raw(s, msgs[i]);
            assert_string_equal(got, "");
            free(got);
        }
    }
    mcp_server_free(s);
}

static void test_oversized_messages(void **state)
{
    mcp_server *s = server(0, 64);
    char msg[400];
    snprintf(msg, sizeof msg,
             "{\"jsonrpc\":\"2.0\",\"id\":\"big\",\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"echo\",\"arguments\":{\"table\":\"%0200d\"}}}",
             0);
    char *got = ask_raw(s, msg);
    assert_non_null(strstr(got, "\"id\":\"big\""));
    assert_non_null(strstr(got, "\"code\":-32600"));
    assert_non_null(strstr(got, "over the limit of 64"));
    free(got);
    /* the id comes after the cut: it cannot be read, so it is null */
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"params\":{\"x\":\"%0100d\"},\"id\":5}", 0);
    expect_error(s, msg, JSONRPC_INVALID_REQUEST, true);
    /* not JSON at all, and too long */
    snprintf(msg, sizeof msg, "hello %0100d", 0);
    expect_error(s, msg, JSONRPC_PARSE_ERROR, true);
    snprintf(msg, sizeof msg, "{\"jsonrpc\" \"2.0\", \"pad\":\"%0100d\"}", 0);
    expect_error(s, msg, JSONRPC_PARSE_ERROR, true);

    /* a transport that kept only the head of a longer message */
    pm_buf out;
    pm_buf_init(&out, 4096);
    const char *head = "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890123,\"method\":\"x\",\"pa";
    assert_int_equal(mcp_handle_oversized(s, head, strlen(head), 1u << 30, &out), PM_OK);
    assert_non_null(strstr(out.data, "\"id\":12345678901234567890123,"));
    assert_non_null(strstr(out.data, "1073741824 bytes"));
    pm_buf_free(&out);
    mcp_server_free(s);
}

static void test_response_over_the_cap(void **state)
{
    mcp_server *s = server(0, 0);
    init(s, "2025-11-25");
    pm_buf out;
    pm_buf_init(&out, 200); /* tools/list does not fit in 200 bytes */
    const char *msg = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
    assert_int_equal(mcp_handle(s, msg, strlen(msg), &out), PM_OK);
    json_t *r = json_loads(out.data, 0, NULL);
    assert_int_equal(error_code(r), JSONRPC_INTERNAL_ERROR);
    json_decref(r);
    pm_buf_free(&out);
    mcp_server_free(s);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void test_lifecycle(void **state)
{
    mcp_server *s = server(0, 0);
    assert_null(mcp_server_protocol(s));
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
                 JSONRPC_INVALID_REQUEST, false);
    expect_error(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                 "\"echo\"}}",
                 JSONRPC_INVALID_REQUEST, false);
    assert_int_equal(calls, 0);
    char *got = ask_raw(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    assert_string_equal(got, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    free(got);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
                 JSONRPC_INVALID_PARAMS, false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}",
                 JSONRPC_INVALID_PARAMS, false);

    json_t *r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
                       "\"clientInfo\":{\"name\":\"inspector\",\"version\":\"1\"}}}");
    json_t *res = json_object_get(r, "result");
    assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")), "2025-11-25");
    json_t *want = json_loads("{\"tools\":{\"listChanged\":false},\"logging\":{}}", 0, NULL);
    assert_true(json_equal(json_object_get(res, "capabilities"), want));
    json_decref(want);
    json_t *info = json_object_get(res, "serverInfo");
    assert_string_equal(json_string_value(json_object_get(info, "name")), "test");
    assert_string_equal(json_string_value(json_object_get(info, "version")), "9.9");
    json_decref(r);
    assert_string_equal(mcp_server_client_name(s), "inspector");
    expect_error(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"2025-11-25\"}}",
                 JSONRPC_INVALID_REQUEST, false);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no/such\"}",
                 JSONRPC_METHOD_NOT_FOUND, false);
    mcp_server_free(s);
}

static void test_version_negotiation(void **state)
{
    struct {
        const char *asked, *answered;
    } cases[] = {
        {"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"}, {"2025-03-26", "2025-03-26"},
        {"2024-11-05", "2025-11-25"}, {"2099-01-01", "2025-11-25"}, {"", "2025-11-25"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mcp_server *s = server(0, 0);
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"%s\",\"capabilities\":{}}}",
                 cases[i].asked);
        json_t *r = ask(s, msg);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion")),
            cases[i].answered);
        assert_string_equal(mcp_server_protocol(s), cases[i].answered);
        assert_string_equal(mcp_server_client_name(s), "unknown");
        json_decref(r);
        mcp_server_free(s);
    }
}

/* ---- tools/list ------------------------------------------------------------ */

static void test_tools_list_pages(void **state)
{
    mcp_server *s = server(2, 0);
    init(s, "2025-11-25");
    char cursor[100] = "";
    size_t seen = 0, pages = 0;
    for (;;) {
        char msg[300];
        if (cursor[0])
            snprintf(msg, sizeof msg,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{"
                     "\"cursor\":\"%s\"}}",
                     cursor);
        else
            snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        json_t *r = ask(s, msg);
        json_t *res = json_object_get(r, "result");
        json_t *tools = json_object_get(res, "tools");
        assert_true(json_array_size(tools) >= 1 && json_array_size(tools) <= 2);
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            assert_string_equal(json_string_value(json_object_get(t, "name")),
                                fixture_tools[seen].name);
            assert_true(json_is_object(json_object_get(t, "inputSchema")));
            json_t *a = json_object_get(t, "annotations");
            assert_int_equal(json_is_true(json_object_get(a, "readOnlyHint")),
                             fixture_tools[seen].hints.read_only);
            assert_int_equal(json_is_true(json_object_get(a, "destructiveHint")),
                             fixture_tools[seen].hints.destructive);
            assert_true(json_is_boolean(json_object_get(a, "idempotentHint")));
            assert_true(json_is_boolean(json_object_get(a, "openWorldHint")));
            assert_int_equal(json_object_get(t, "outputSchema") != NULL,
                             fixture_tools[seen].output_schema != NULL);
            seen++;
        }
        pages++;
        const char *next = json_string_value(json_object_get(res, "nextCursor"));
        if (!next) {
            json_decref(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(r);
    }
    assert_int_equal(seen, NFIXTURES);
    assert_int_equal(pages, 3);
    const char *bad[] = {"\"nope\"", "\"pmc1.0\"", "\"pmc1.ff\"", "\"pmc1.2x\"", "7"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[300];
        snprintf(
            msg, sizeof msg,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"cursor\":%s}}",
            bad[i]);
        expect_error(s, msg, JSONRPC_INVALID_PARAMS, false);
    }
    mcp_server_free(s);

    s = server(0, 0); /* the default page holds them all */
    init(s, "2025-11-25");
    json_t *r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}");
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"), "tools")),
                     NFIXTURES);
    assert_null(json_object_get(json_object_get(r, "result"), "nextCursor"));
    json_decref(r);
    mcp_server_free(s);
}

/* ---- tools/call ----------------------------------------------------------- */

static const char *tool_error_text(json_t *r)
{
    json_t *res = json_object_get(r, "result");
    assert_non_null(res);
    assert_true(json_is_true(json_object_get(res, "isError")));
    json_t *c = json_array_get(json_object_get(res, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "text");
    return json_string_value(json_object_get(c, "text"));
}

static void test_tools_call(void **state)
{
    mcp_server *s = server(0, 0);
    init(s, "2025-06-18");
    calls = 0;
    json_t *r = call_tool(s, "echo", "{\"table\":\"orders\",\"limit\":3,\"tags\":[\"a\"]}");
    json_t *res = json_object_get(r, "result");
    assert_false(json_is_true(json_object_get(res, "isError")));
    json_t *sc = json_object_get(res, "structuredContent");
    assert_string_equal(json_string_value(json_object_get(json_object_get(sc, "args"), "table")),
                        "orders");
    assert_string_equal(json_string_value(json_object_get(sc, "client")), "claude");
    /* the text block is the same content as JSON, for clients without
     * structured content */
    json_t *c = json_array_get(json_object_get(res, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "text");
    json_t *parsed = json_loads(json_string_value(json_object_get(c, "text")), 0, NULL);
    assert_true(json_equal(parsed, sc));
    json_decref(parsed);
    json_decref(r);
    assert_int_equal(calls, 1);

    /* protocol-level failures */
    r = call_tool(s, "nope", "{}");
    assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
               "Unknown tool: \"nope\""));
    json_decref(r);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}",
                 JSONRPC_INVALID_PARAMS, false);
    expect_error(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":3}}",
                 JSONRPC_INVALID_PARAMS, false);
    r = call_tool(s, "echo", "[1]");
    assert_int_equal(error_code(r), JSONRPC_INVALID_PARAMS);
    json_decref(r);

    /* arguments that break the input schema: a tool error the model can act on */
    struct {
        const char *args, *says;
    } bad[] = {
        {NULL, "argument \"table\": is required but missing"},
        {"{}", "argument \"table\": is required but missing"},
        {"{\"table\":5}", "argument \"table\": expected string, got integer"},
        {"{\"table\":\"t\",\"limit\":\"3\"}", "argument \"limit\": expected integer, got string"},
        {"{\"table\":\"t\",\"limit\":0}", "argument \"limit\": must be at least 1, got 0"},
        {"{\"table\":\"t\",\"limit\":1.5}", "argument \"limit\": expected integer, got number"},
        {"{\"table\":\"t\",\"mode\":\"medium\"}",
         "argument \"mode\": must be one of [\"fast\",\"slow\"]"},
        {"{\"table\":\"t\",\"tags\":[\"a\",2]}",
         "argument \"tags[1]\": expected string, got integer"},
        {"{\"table\":\"t\",\"colour\":1}", "argument \"colour\": is not a known argument (known: "},
        {"{\"table\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
         "argument \"table\": must be at most 8 characters long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call_tool(s, "echo", bad[i].args);
        const char *text = tool_error_text(r);
        if (!strstr(text, bad[i].says))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, text, bad[i].says);
        assert_non_null(strstr(text, "Invalid arguments for tool \"echo\""));
        json_decref(r);
    }
    assert_int_equal(calls, 1); /* the handler never ran on bad arguments */
    r = call_tool(
        s, "echo",
        "{\"table\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    assert_false(json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);

    /* the handler's own failure */
    r = call_tool(s, "fails", "{\"table\":\"orders\"}");
    assert_string_equal(tool_error_text(r),
                        "table \"orders\" does not exist; list_tables names the tables");
    assert_null(json_object_get(json_object_get(r, "result"), "structuredContent"));
    json_decref(r);

    /* content that breaks the tool's own outputSchema is the server's bug */
    r = call_tool(s, "liar", NULL);
    assert_int_equal(error_code(r), JSONRPC_INTERNAL_ERROR);
    json_decref(r);

    /* arguments: null reads as none */
    r = call_tool(s, "t4", "null");
    assert_non_null(json_object_get(json_object_get(r, "result"), "structuredContent"));
    json_decref(r);
    mcp_server_free(s);
}

/* ---- batches ---------------------------------------------------------------- */

static void test_batches_rejected_after_2025_03_26(void **state)
{
    const char *versions[] = {NULL, "2025-06-18", "2025-11-25"};
    for (size_t i = 0; i < 3; i++) {
        mcp_server *s = server(0, 0);
        if (versions[i])
            init(s, versions[i]);
        json_t *r = ask(s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]");
        assert_true(json_is_object(r)); /* one error, not an array */
        assert_int_equal(error_code(r), JSONRPC_INVALID_REQUEST);
        assert_true(json_is_null(json_object_get(r, "id")));
        json_decref(r);
        mcp_server_free(s);
    }
}

static void test_batches_handled_under_2025_03_26(void **state)
{
    mcp_server *s = server(0, 0);
    init(s, "2025-03-26");
    char *got = ask_raw(s, "[ {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                           "{\"jsonrpc\":\"2.0\",\"id\":\"x\\\"y\",\"method\":\"ping\"}, 1,"
                           "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"method\":\"nope\"},"
                           "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}} ]");
    assert_string_equal(got, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
                             "{\"jsonrpc\":\"2.0\",\"id\":\"x\\\"y\",\"result\":{}},"
                             "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                             "\"message\":\"Invalid Request: a message must be a JSON object\"}},"
                             "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"error\":{"
                             "\"code\":-32601,\"message\":\"Method not found: nope\"}}]");
    free(got);
    /* only notifications: nothing at all comes back */
    got = ask_raw(
        s, "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]");
    assert_string_equal(got, "");
    free(got);
    expect_error(s, "[]", JSONRPC_INVALID_REQUEST, true);
    expect_error(s, " [ ] ", JSONRPC_INVALID_REQUEST, true);
    /* initialize may not be batched */
    json_t *r = ask(s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-03-26\"}}]");
    assert_true(json_is_array(r));
    assert_int_equal(error_code(json_array_get(r, 0)), JSONRPC_INVALID_REQUEST);
    json_decref(r);
    /* a batch of tool calls */
    r = ask(s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
               "\"echo\",\"arguments\":{\"table\":\"a\"}}},{\"jsonrpc\":\"2.0\",\"id\":2,"
               "\"method\":\"tools/call\",\"params\":{\"name\":\"zzz\"}}]");
    assert_int_equal(json_array_size(r), 2);
    assert_non_null(
        json_object_get(json_object_get(json_array_get(r, 0), "result"), "structuredContent"));
    assert_int_equal(error_code(json_array_get(r, 1)), JSONRPC_INVALID_PARAMS);
    json_decref(r);
    mcp_server_free(s);
}

/* ---- registration ------------------------------------------------------------ */

static void test_registration_errors(void **state)
{
    mcp_server_info info = {.name = "t", .version = "1"};
    mcp_server *s = mcp_server_new(&info);
    pm_err err = {0};
    mcp_tool bad_schema = {"x", NULL, NULL, "{not json", NULL, RO, echo_call};
    assert_int_equal(mcp_server_add_tools(s, &bad_schema, 1, NULL, &err), PM_ERR_CONFIG);
    assert_string_equal(err.msg, "tool \"x\": its inputSchema is not a JSON object");
    mcp_tool bad_out = {"x", NULL, NULL, ANY_ARGS, "[]", RO, echo_call};
    assert_int_equal(mcp_server_add_tools(s, &bad_out, 1, NULL, &err), PM_ERR_CONFIG);
    mcp_tool no_call = {"x", NULL, NULL, ANY_ARGS, NULL, RO, NULL};
    assert_int_equal(mcp_server_add_tools(s, &no_call, 1, NULL, &err), PM_ERR_CONFIG);
    assert_int_equal(mcp_server_add_tools(s, fixture_tools, 1, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_tools(s, fixture_tools, 1, NULL, &err), PM_ERR_CONFIG);
    assert_string_equal(err.msg, "tool \"echo\" is registered twice");
    mcp_server_free(s);
}

/* ---- stdio ------------------------------------------------------------------- */

static void test_stdio_transport(void **state)
{
    mcp_server *s = server(0, 128);
    char inpath[] = "/tmp/pm_test_mcp_in_XXXXXX", outpath[] = "/tmp/pm_test_mcp_out_XXXXXX";
    int in = mkstemp(inpath), out = mkstemp(outpath);
    assert_true(in >= 0 && out >= 0);
    FILE *f = fdopen(dup(in), "w");
    fprintf(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n");
    fprintf(f, "\n   \n");
    fprintf(f, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
    fprintf(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"pad\":\"");
    for (int i = 0; i < 200000; i++) /* far over the cap, over several reads */
        fputc('x', f);
    fprintf(f, "\"}}\n");
    fprintf(f, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}"); /* no final newline */
    fclose(f);
    lseek(in, 0, SEEK_SET);
    pm_err err = {0};
    assert_int_equal(mcp_stdio_serve(s, in, out, &err), PM_OK);
    char buf[2000] = "";
    ssize_t n = pread(out, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    assert_string_equal(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
                             "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32600,\"message\":"
                             "\"Invalid Request: the message is 200060 bytes, over the limit of "
                             "128\"}}\n"
                             "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n");
    close(in);
    close(out);
    unlink(inpath);
    unlink(outpath);
    mcp_server_free(s);
}

/* ---- the reader on its own -------------------------------------------------- */

static void test_jsonrpc_classify(void **state)
{
    jsonrpc_msg m;
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"a/b\",\"params\":{\"k\":1}}";
    jsonrpc_read(req, strlen(req), 1000, &m);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_string_equal(m.method, "a/b");
    assert_true(json_is_object(m.params));
    assert_int_equal(m.id.len, 3);
    assert_memory_equal(m.id.text, "\"q\"", 3);
    jsonrpc_msg_free(&m);
    const char *note = "{\"jsonrpc\":\"2.0\",\"method\":\"n\",\"params\":[1]}";
    jsonrpc_read(note, strlen(note), 1000, &m);
    assert_int_equal(m.kind, JSONRPC_NOTIFICATION);
    assert_int_equal(m.id.len, 0);
    jsonrpc_msg_free(&m);
    jsonrpc_read("[1,2]", 5, 1000, &m);
    assert_int_equal(m.kind, JSONRPC_BATCH);
    jsonrpc_msg_free(&m);
    jsonrpc_read(req, strlen(req), 10, &m);
    assert_int_equal(m.kind, JSONRPC_INVALID);
    assert_int_equal(m.error_code, JSONRPC_INVALID_REQUEST);
    assert_null(m.root);
    jsonrpc_msg_free(&m);
}

/* ---- resources and prompts ------------------------------------------------ */

static char *static_read(void *ctx, const char *uri, json_t *vars, mcp_call *call)
{
    return strdup("{\"events\":[]}");
}

/* Echoes the template's variables; "missing" does not exist, "broken"
 * fails otherwise. */
static char *vars_read(void *ctx, const char *uri, json_t *vars, mcp_call *call)
{
    const char *name = json_string_value(json_object_get(vars, "name"));
    if (name && strcmp(name, "missing") == 0) {
        mcp_call_not_found(call, "no table \"%s\"", name);
        return NULL;
    }
    if (name && strcmp(name, "broken") == 0) {
        mcp_call_fail(call, "the warehouse is down");
        return NULL;
    }
    return json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS);
}

static const mcp_resource fixture_resources[] = {
    {.uri = "test://audit/recent",
     .name = "recent",
     .title = "Recent",
     .mime_type = "application/json",
     .read = static_read},
    {.uri_template = "test://tables/{name}/schema",
     .name = "schema",
     .description = "a table's schema",
     .mime_type = "application/json",
     .read = vars_read},
    {.uri_template = "test://runs/{run}/log/{part}", .name = "log", .read = vars_read},
};

static char *greet_get(void *ctx, json_t *args, mcp_call *call)
{
    const char *who = json_string_value(json_object_get(args, "who"));
    if (strcmp(who, "nobody") == 0) {
        mcp_call_fail(call, "\"who\" must name somebody");
        return NULL;
    }
    const char *how = json_string_value(json_object_get(args, "how"));
    char *t = NULL;
    if (asprintf(&t, "greet %s %s", who, how ? how : "warmly") < 0)
        return NULL;
    return t;
}

static const mcp_prompt fixture_prompts[] = {
    {.name = "greet",
     .title = "Greet",
     .description = "greets somebody",
     .args = {{"who", "whom to greet", true}, {"how", NULL, false}},
     .get = greet_get},
};

static mcp_server *server_with_resources(void)
{
    mcp_server *s = server(0, 0);
    pm_err err = {0};
    assert_int_equal(mcp_server_add_resources(s, fixture_resources, 3, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_prompts(s, fixture_prompts, 1, NULL, &err), PM_OK);
    return s;
}

/* The result of a request that must succeed (caller frees the response). */
static json_t *result_of(json_t *r)
{
    json_t *res = json_object_get(r, "result");
    if (!res)
        fail_msg("expected a result: %s", json_dumps(r, 0));
    return res;
}

static void test_resources(void **state)
{
    mcp_server *s = server_with_resources();
    expect_error(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{"
                 "\"uri\":\"test://audit/recent\"}}",
                 JSONRPC_INVALID_REQUEST, false);
    json_t *r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\"}}");
    json_t *want = json_loads("{\"tools\":{\"listChanged\":false},\"logging\":{},"
                              "\"resources\":{\"subscribe\":true,\"listChanged\":false},"
                              "\"prompts\":{\"listChanged\":false}}",
                              0, NULL);
    assert_true(json_equal(json_object_get(result_of(r), "capabilities"), want));
    json_decref(want);
    json_decref(r);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/list\"}");
    want = json_loads("{\"resources\":[{\"uri\":\"test://audit/recent\",\"name\":\"recent\","
                      "\"title\":\"Recent\",\"mimeType\":\"application/json\"}]}",
                      0, NULL);
    assert_true(json_equal(result_of(r), want));
    json_decref(want);
    json_decref(r);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/templates/list\"}");
    want = json_loads("{\"resourceTemplates\":[{\"uriTemplate\":\"test://tables/{name}/schema\","
                      "\"name\":\"schema\",\"description\":\"a table's schema\","
                      "\"mimeType\":\"application/json\"},{\"uriTemplate\":"
                      "\"test://runs/{run}/log/{part}\",\"name\":\"log\"}]}",
                      0, NULL);
    assert_true(json_equal(result_of(r), want));
    json_decref(want);
    json_decref(r);
    expect_error(s,
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/list\",\"params\":{"
                 "\"cursor\":\"x\"}}",
                 JSONRPC_INVALID_PARAMS, false);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resources/read\",\"params\":{"
               "\"uri\":\"test://audit/recent\"}}");
    want = json_loads("{\"contents\":[{\"uri\":\"test://audit/recent\",\"mimeType\":"
                      "\"application/json\",\"text\":\"{\\\"events\\\":[]}\"}]}",
                      0, NULL);
    assert_true(json_equal(result_of(r), want));
    json_decref(want);
    json_decref(r);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/read\",\"params\":{"
               "\"uri\":\"test://tables/orders/schema\"}}");
    json_t *c = json_array_get(json_object_get(result_of(r), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "uri")),
                        "test://tables/orders/schema");
    assert_string_equal(json_string_value(json_object_get(c, "text")), "{\"name\":\"orders\"}");
    json_decref(r);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/read\",\"params\":{"
               "\"uri\":\"test://runs/7/log/tail\"}}");
    c = json_array_get(json_object_get(result_of(r), "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "text")),
                        "{\"part\":\"tail\",\"run\":\"7\"}");
    assert_null(json_object_get(c, "mimeType"));
    json_decref(r);

    /* unknown: no match, an empty or slashed variable, a trailing part, a
     * reader's not found; each -32002 with the uri as data */
    const char *unknown[] = {"test://nothing",           "test://tables//schema",
                             "test://tables/a/b/schema", "test://tables/orders/schema/x",
                             "test://audit/recent2",     "test://tables/missing/schema"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"resources/read\",\"params\":{"
                 "\"uri\":\"%s\"}}",
                 unknown[i]);
        r = ask(s, msg);
        assert_int_equal(error_code(r), -32002);
        json_t *data = json_object_get(json_object_get(r, "error"), "data");
        assert_string_equal(json_string_value(json_object_get(data, "uri")), unknown[i]);
        json_decref(r);
    }
    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"resources/read\",\"params\":{"
               "\"uri\":\"test://tables/broken/schema\"}}");
    assert_int_equal(error_code(r), JSONRPC_INTERNAL_ERROR);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
               "the warehouse is down"));
    json_decref(r);
    expect_error(s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/read\",\"params\":{}}",
                 JSONRPC_INVALID_PARAMS, false);
    mcp_server_free(s);
}

static void test_prompts(void **state)
{
    mcp_server *s = server_with_resources();
    init(s, "2025-11-25");
    json_t *r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/list\"}");
    json_t *want =
        json_loads("{\"prompts\":[{\"name\":\"greet\",\"title\":\"Greet\",\"description\":"
                   "\"greets somebody\",\"arguments\":[{\"name\":\"who\",\"description\":"
                   "\"whom to greet\",\"required\":true},{\"name\":\"how\",\"required\":false}]}]}",
                   0, NULL);
    assert_true(json_equal(result_of(r), want));
    json_decref(want);
    json_decref(r);

    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/get\",\"params\":{\"name\":"
               "\"greet\",\"arguments\":{\"who\":\"ops\"}}}");
    want = json_loads("{\"description\":\"greets somebody\",\"messages\":[{\"role\":\"user\","
                      "\"content\":{\"type\":\"text\",\"text\":\"greet ops warmly\"}}]}",
                      0, NULL);
    assert_true(json_equal(result_of(r), want));
    json_decref(want);
    json_decref(r);

    /* missing required, unknown, not a string, unknown prompt, refused */
    const char *bad[] = {
        "{\"name\":\"greet\"}",
        "{\"name\":\"greet\",\"arguments\":{\"how\":\"x\"}}",
        "{\"name\":\"greet\",\"arguments\":{\"who\":\"a\",\"why\":\"x\"}}",
        "{\"name\":\"greet\",\"arguments\":{\"who\":3}}",
        "{\"name\":\"greet\",\"arguments\":[]}",
        "{\"name\":\"nope\",\"arguments\":{\"who\":\"a\"}}",
        "{\"arguments\":{\"who\":\"a\"}}",
        "{\"name\":\"greet\",\"arguments\":{\"who\":\"nobody\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/get\",\"params\":%s}", bad[i]);
        expect_error(s, msg, JSONRPC_INVALID_PARAMS, false);
    }
    r = ask(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/get\",\"params\":{\"name\":"
               "\"greet\"}}");
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(r, "error"), "message")), "\"who\""));
    json_decref(r);
    mcp_server_free(s);
}

static void test_resource_registration_errors(void **state)
{
    mcp_server *s = server(0, 0);
    pm_err err = {0};
    const mcp_resource both[] = {
        {.uri = "a://x", .uri_template = "a://{x}", .name = "x", .read = static_read}};
    const mcp_resource neither[] = {{.name = "x", .read = static_read}};
    const mcp_resource noreader[] = {{.uri = "a://x", .name = "x"}};
    assert_int_equal(mcp_server_add_resources(s, both, 1, NULL, &err), PM_ERR_CONFIG);
    assert_int_equal(mcp_server_add_resources(s, neither, 1, NULL, &err), PM_ERR_CONFIG);
    assert_int_equal(mcp_server_add_resources(s, noreader, 1, NULL, &err), PM_ERR_CONFIG);
    assert_int_equal(mcp_server_add_resources(s, fixture_resources, 1, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_resources(s, fixture_resources, 1, NULL, &err), PM_ERR_CONFIG);
    assert_int_equal(mcp_server_add_prompts(s, fixture_prompts, 1, NULL, &err), PM_OK);
    assert_int_equal(mcp_server_add_prompts(s, fixture_prompts, 1, NULL, &err), PM_ERR_CONFIG);
    const mcp_prompt noget[] = {{.name = "p"}};
    assert_int_equal(mcp_server_add_prompts(s, noget, 1, NULL, &err), PM_ERR_CONFIG);
    mcp_server_free(s);
}

int main(void)
{
    pm_log_set_level(PM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_ids_echoed_exactly),
        cmocka_unit_test(test_notifications_never_answered),
        cmocka_unit_test(test_oversized_messages),
        cmocka_unit_test(test_response_over_the_cap),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_version_negotiation),
        cmocka_unit_test(test_tools_list_pages),
        cmocka_unit_test(test_tools_call),
        cmocka_unit_test(test_batches_rejected_after_2025_03_26),
        cmocka_unit_test(test_batches_handled_under_2025_03_26),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_stdio_transport),
        cmocka_unit_test(test_jsonrpc_classify),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_resource_registration_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
