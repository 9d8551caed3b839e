/* server.c - the fixture server for the official MCP conformance suite
 * (@modelcontextprotocol/conformance): the tools, resources and prompts its
 * server scenarios call by name, registered into the same src/mcp part
 * pipemend serves with, over the same Streamable HTTP transport (the /mcp
 * route of src/http).
 *
 * Usage: mcp_conformance_server [PORT]   (0 or none: any free port; the
 * URL goes to stdout as "listening on URL"). SIGINT/SIGTERM stop it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/mcp_route.h"
#include "mcp/mcp.h"

/* a 1x1 PNG and a tiny WAV, base64 */
#define PNG                                                                                        \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJg" \
    "gg=="
#define WAV "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

#define NO_ARGS "{\"type\":\"object\",\"properties\":{}}"
#define TIMEOUT_MS 30000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *text_block(const char *text)
{
    return json_pack("{s:s, s:s}", "type", "text", "text", text);
}

/* A tool whose answer is content blocks only. */
static json_t *content_only(mcp_call *c, json_t *block)
{
    mcp_call_content(c, block);
    return json_object();
}

static json_t *t_simple_text(void *ctx, json_t *args, mcp_call *c)
{
    return content_only(c, text_block("This is a simple text response for testing."));
}

static json_t *t_image(void *ctx, json_t *args, mcp_call *c)
{
    return content_only(
        c, json_pack("{s:s, s:s, s:s}", "type", "image", "data", PNG, "mimeType", "image/png"));
}

static json_t *t_audio(void *ctx, json_t *args, mcp_call *c)
{
    return content_only(
        c, json_pack("{s:s, s:s, s:s}", "type", "audio", "data", WAV, "mimeType", "audio/wav"));
}

static json_t *t_embedded(void *ctx, json_t *args, mcp_call *c)
{
    return content_only(c, json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource",
                                     "uri", "test://embedded-resource", "mimeType", "text/plain",
                                     "text", "This is an embedded resource content."));
}

static json_t *t_mixed(void *ctx, json_t *args, mcp_call *c)
{
    mcp_call_content(c, text_block("Multiple content types test:"));
    mcp_call_content(
        c, json_pack("{s:s, s:s, s:s}", "type", "image", "data", PNG, "mimeType", "image/png"));
    mcp_call_content(c, json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource", "uri",
                                  "test://mixed-content-resource", "mimeType", "application/json",
                                  "text", "{\"test\":\"data\",\"value\":123}"));
    return json_object();
}

static json_t *t_logging(void *ctx, json_t *args, mcp_call *c)
{
    static const char *const steps[] = {"Tool execution started", "Tool processing data",
                                        "Tool execution completed"};
    for (size_t i = 0; i < 3; i++) {
        mcp_call_log(c, MCP_LOG_INFO, "conformance-test-server", json_string(steps[i]));
        if (i < 2)
            sleep_ms(50);
    }
    return content_only(c, text_block("Tool with logging executed successfully"));
}

static json_t *t_progress(void *ctx, json_t *args, mcp_call *c)
{
    for (int p = 0; p <= 100; p += 50) {
        char msg[64];
        snprintf(msg, sizeof msg, "Completed step %d of 100", p);
        mcp_call_progress(c, p, 100, msg);
        if (p < 100)
            sleep_ms(50);
    }
    return content_only(c, text_block("Progress tool completed"));
}

static json_t *t_error(void *ctx, json_t *args, mcp_call *c)
{
    mcp_call_fail(c, "This tool intentionally returns an error for testing");
    return NULL;
}

static json_t *t_reconnection(void *ctx, json_t *args, mcp_call *c)
{
    /* ends the POST's stream mid-call; the answer comes on the client's
     * reconnection (GET with Last-Event-ID) */
    mcp_call_close_stream(c, 500);
    sleep_ms(100);
    return content_only(
        c, text_block("Reconnection test completed successfully. If you received this, the "
                      "client properly reconnected after stream closure."));
}

static json_t *t_sampling(void *ctx, json_t *args, mcp_call *c)
{
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    json_t *r = mcp_call_request(c, "sampling/createMessage",
                                 json_pack("{s:[{s:s, s:{s:s, s:s}}], s:i}", "messages", "role",
                                           "user", "content", "type", "text", "text",
                                           prompt ? prompt : "", "maxTokens", 100),
                                 TIMEOUT_MS);
    if (!r)
        return NULL;
    const char *text = json_string_value(json_object_get(json_object_get(r, "content"), "text"));
    char *out = NULL;
    if (asprintf(&out, "LLM response: %s", text ? text : "No response") < 0)
        out = NULL;
    json_decref(r);
    json_t *res = content_only(c, text_block(out ? out : ""));
    free(out);
    return res;
}

/* elicitation/create with schema; the answer as the suite's fixtures say */
static json_t *elicit(mcp_call *c, const char *message, json_t *schema, const char *prefix)
{
    json_t *r = mcp_call_request(
        c, "elicitation/create",
        json_pack("{s:s, s:s, s:o}", "mode", "form", "message", message, "requestedSchema", schema),
        TIMEOUT_MS);
    if (!r)
        return NULL;
    json_t *content = json_object_get(r, "content");
    char *ctext = json_dumps(content ? content : json_object(), JSON_COMPACT);
    const char *action = json_string_value(json_object_get(r, "action"));
    char *out = NULL;
    if (asprintf(&out, "%saction=%s, content=%s", prefix, action ? action : "",
                 ctext ? ctext : "{}") < 0)
        out = NULL;
    free(ctext);
    json_decref(r);
    json_t *res = content_only(c, text_block(out ? out : ""));
    free(out);
    return res;
}

static json_t *t_elicitation(void *ctx, json_t *args, mcp_call *c)
{
    const char *message = json_string_value(json_object_get(args, "message"));
    json_t *schema =
        json_loads("{\"type\":\"object\",\"properties\":{"
                   "\"username\":{\"type\":\"string\",\"description\":\"User's response\"},"
                   "\"email\":{\"type\":\"string\",\"description\":\"User's email address\"}},"
                   "\"required\":[\"username\",\"email\"]}",
                   0, NULL);
    return elicit(c, message ? message : "", schema, "User response: ");
}

static json_t *t_elicitation_defaults(void *ctx, json_t *args, mcp_call *c)
{
    json_t *schema = json_loads(
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"User name\",\"default\":\"John Doe\"},"
        "\"age\":{\"type\":\"integer\",\"description\":\"User age\",\"default\":30},"
        "\"score\":{\"type\":\"number\",\"description\":\"User score\",\"default\":95.5},"
        "\"status\":{\"type\":\"string\",\"description\":\"User status\","
        "\"enum\":[\"active\",\"inactive\",\"pending\"],\"default\":\"active\"},"
        "\"verified\":{\"type\":\"boolean\",\"description\":\"Verification status\","
        "\"default\":true}},\"required\":[]}",
        0, NULL);
    return elicit(c, "Please review and update the form fields with defaults", schema,
                  "Elicitation completed: ");
}

static json_t *t_elicitation_enums(void *ctx, json_t *args, mcp_call *c)
{
    json_t *schema = json_loads(
        "{\"type\":\"object\",\"properties\":{"
        "\"untitledSingle\":{\"type\":\"string\",\"description\":\"Select one option\","
        "\"enum\":[\"option1\",\"option2\",\"option3\"]},"
        "\"titledSingle\":{\"type\":\"string\",\"description\":\"Select one option with titles\","
        "\"oneOf\":[{\"const\":\"value1\",\"title\":\"First Option\"},"
        "{\"const\":\"value2\",\"title\":\"Second Option\"},"
        "{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
        "\"legacyEnum\":{\"type\":\"string\",\"description\":\"Select one option (legacy)\","
        "\"enum\":[\"opt1\",\"opt2\",\"opt3\"],"
        "\"enumNames\":[\"Option One\",\"Option Two\",\"Option Three\"]},"
        "\"untitledMulti\":{\"type\":\"array\",\"description\":\"Select multiple options\","
        "\"minItems\":1,\"maxItems\":3,"
        "\"items\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\",\"option3\"]}},"
        "\"titledMulti\":{\"type\":\"array\",\"description\":\"Select multiple options with "
        "titles\",\"minItems\":1,\"maxItems\":3,"
        "\"items\":{\"anyOf\":[{\"const\":\"value1\",\"title\":\"First Choice\"},"
        "{\"const\":\"value2\",\"title\":\"Second Choice\"},"
        "{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}},\"required\":[]}",
        0, NULL);
    return elicit(c, "Please select options from the enum fields", schema,
                  "Elicitation completed: ");
}

static json_t *t_schema_2020_12(void *ctx, json_t *args, mcp_call *c)
{
    char *a = json_dumps(args, JSON_COMPACT);
    char *out = NULL;
    if (asprintf(&out, "JSON Schema 2020-12 tool called with: %s", a ? a : "{}") < 0)
        out = NULL;
    free(a);
    json_t *res = content_only(c, text_block(out ? out : ""));
    free(out);
    return res;
}

#define hints                                                                                      \
    {                                                                                              \
        .read_only = true, .idempotent = true                                                      \
    }

static const mcp_tool tools[] = {
    {"test_simple_text", NULL, "Tests simple text content response", NO_ARGS, NULL, hints,
     t_simple_text},
    {"test_image_content", NULL, "Tests image content response", NO_ARGS, NULL, hints, t_image},
    {"test_audio_content", NULL, "Tests audio content response", NO_ARGS, NULL, hints, t_audio},
    {"test_embedded_resource", NULL, "Tests embedded resource content response", NO_ARGS, NULL,
     hints, t_embedded},
    {"test_multiple_content_types", NULL,
     "Tests response with multiple content types (text, image, resource)", NO_ARGS, NULL, hints,
     t_mixed},
    {"test_tool_with_logging", NULL, "Tests tool that emits log messages during execution", NO_ARGS,
     NULL, hints, t_logging},
    {"test_tool_with_progress", NULL, "Tests tool that reports progress notifications", NO_ARGS,
     NULL, hints, t_progress},
    {"test_error_handling", NULL, "Tests error response handling", NO_ARGS, NULL, hints, t_error},
    {"test_reconnection", NULL, "Tests SSE stream disconnection and client reconnection (SEP-1699)",
     NO_ARGS, NULL, hints, t_reconnection},
    {"test_sampling", NULL, "Tests server-initiated sampling (LLM completion request)",
     "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\",\"description\":"
     "\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}",
     NULL, hints, t_sampling},
    {"test_elicitation", NULL, "Tests server-initiated elicitation (user input request)",
     "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"description\":"
     "\"The message to show the user\"}},\"required\":[\"message\"]}",
     NULL, hints, t_elicitation},
    {"test_elicitation_sep1034_defaults", NULL,
     "Tests elicitation with default values per SEP-1034", NO_ARGS, NULL, hints,
     t_elicitation_defaults},
    {"test_elicitation_sep1330_enums", NULL,
     "Tests elicitation with enum schema improvements per SEP-1330", NO_ARGS, NULL, hints,
     t_elicitation_enums},
    {"json_schema_2020_12_tool", NULL, "Tool with JSON Schema 2020-12 features",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
     "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{"
     "\"street\":{\"type\":\"string\"},\"city\":{\"type\":\"string\"}}}},"
     "\"properties\":{\"name\":{\"type\":\"string\"},"
     "\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false}",
     NULL, hints, t_schema_2020_12},
};

/* ---- resources ---------------------------------------------------------------- */

static char *r_static_text(void *ctx, const char *uri, json_t *vars, mcp_call *c)
{
    return strdup("This is the content of the static text resource.");
}

static char *r_static_binary(void *ctx, const char *uri, json_t *vars, mcp_call *c)
{
    return strdup(PNG);
}

static char *r_watched(void *ctx, const char *uri, json_t *vars, mcp_call *c)
{
    return strdup("Watched resource content");
}

static char *r_template(void *ctx, const char *uri, json_t *vars, mcp_call *c)
{
    const char *id = json_string_value(json_object_get(vars, "id"));
    char data[200];
    snprintf(data, sizeof data, "Data for ID: %s", id ? id : "");
    json_t *o = json_pack("{s:s, s:b, s:s}", "id", id ? id : "", "templateTest", 1, "data", data);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static json_t *complete_ids(void *ctx, const char *arg, const char *value, json_t *context,
                            mcp_call *c)
{
    static const char *const ids[] = {"1", "2", "3", "10", "42"};
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strncmp(ids[i], value, strlen(value)) == 0)
            json_array_append_new(arr, json_string(ids[i]));
    return arr;
}

static const mcp_resource resources[] = {
    {.uri = "test://static-text",
     .name = "static-text",
     .title = "Static Text Resource",
     .description = "A static text resource for testing",
     .mime_type = "text/plain",
     .read = r_static_text},
    {.uri = "test://static-binary",
     .name = "static-binary",
     .title = "Static Binary Resource",
     .description = "A static binary resource (image) for testing",
     .mime_type = "image/png",
     .read = r_static_binary,
     .blob = true},
    {.uri = "test://watched-resource",
     .name = "watched-resource",
     .title = "Watched Resource",
     .description = "A resource that can be subscribed to",
     .mime_type = "text/plain",
     .read = r_watched},
    {.uri_template = "test://template/{id}/data",
     .name = "template",
     .title = "Resource Template",
     .description = "A resource template with parameter substitution",
     .mime_type = "application/json",
     .read = r_template,
     .complete = complete_ids},
};

/* ---- prompts -------------------------------------------------------------------- */

static char *p_simple(void *ctx, json_t *args, mcp_call *c)
{
    return strdup("This is a simple prompt for testing.");
}

static char *p_with_args(void *ctx, json_t *args, mcp_call *c)
{
    char *out = NULL;
    if (asprintf(&out, "Prompt with arguments: arg1='%s', arg2='%s'",
                 json_string_value(json_object_get(args, "arg1")),
                 json_string_value(json_object_get(args, "arg2"))) < 0)
        return NULL;
    return out;
}

static char *p_embedded(void *ctx, json_t *args, mcp_call *c)
{
    const char *uri = json_string_value(json_object_get(args, "resourceUri"));
    mcp_call_message(c, "user",
                     json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource", "uri",
                               uri, "mimeType", "text/plain", "text",
                               "Embedded resource content for testing."));
    mcp_call_message(c, "user", text_block("Please process the embedded resource above."));
    return strdup("");
}

static char *p_image(void *ctx, json_t *args, mcp_call *c)
{
    mcp_call_message(
        c, "user",
        json_pack("{s:s, s:s, s:s}", "type", "image", "data", PNG, "mimeType", "image/png"));
    mcp_call_message(c, "user", text_block("Please analyze the image above."));
    return strdup("");
}

static json_t *complete_args(void *ctx, const char *arg, const char *value, json_t *context,
                             mcp_call *c)
{
    static const char *const words[] = {"paris", "park", "party", "value1", "value2"};
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strncmp(words[i], value, strlen(value)) == 0)
            json_array_append_new(arr, json_string(words[i]));
    return arr;
}

static const mcp_prompt prompts[] = {
    {"test_simple_prompt",
     "Simple Test Prompt",
     "A simple prompt without arguments",
     {{0}},
     p_simple,
     NULL},
    {"test_prompt_with_arguments",
     "Prompt With Arguments",
     "A prompt with required arguments",
     {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}},
     p_with_args,
     complete_args},
    {"test_prompt_with_embedded_resource",
     "Prompt With Embedded Resource",
     "A prompt that includes an embedded resource",
     {{"resourceUri", "URI of the resource to embed", true}},
     p_embedded,
     NULL},
    {"test_prompt_with_image",
     "Prompt With Image",
     "A prompt that includes image content",
     {{0}},
     p_image,
     NULL},
};

/* ---- main ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = 1;
}

static void ready(void *arg, const char *host, int port)
{
    printf("listening on http://%s:%d/mcp\n", host, port);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (getenv("MCP_CONFORMANCE_DEBUG"))
        pm_log_set_level(PM_LOG_DEBUG);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    mcp_server_info info = {.name = "pipemend-conformance-fixtures", .version = "1.0.0"};
    mcp_server *s = mcp_server_new(&info);
    pm_err err = {0};
    if (!s || mcp_server_add_tools(s, tools, sizeof tools / sizeof tools[0], NULL, &err) ||
        mcp_server_add_resources(s, resources, sizeof resources / sizeof resources[0], NULL,
                                 &err) ||
        mcp_server_add_prompts(s, prompts, sizeof prompts / sizeof prompts[0], NULL, &err)) {
        fprintf(stderr, "mcp_conformance_server: %s\n", err.msg);
        return 1;
    }
    http_opts o = {.port = argc > 1 ? atoi(argv[1]) : 0, .ready = ready, .stop = &stop};
    http_server *srv = http_server_new(&o);
    int rc = 1;
    if (srv && http_mcp_mount(srv, s, NULL, &err) == PM_OK && http_server_run(srv, &err) == PM_OK)
        rc = 0;
    if (rc)
        fprintf(stderr, "mcp_conformance_server: %s\n", err.msg);
    http_server_free(srv);
    mcp_server_free(s);
    return rc;
}
