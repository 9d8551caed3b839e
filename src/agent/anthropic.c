/* anthropic.c - the Anthropic Messages API (POST /v1/messages): a system
 * prompt beside the messages, tool_use and tool_result content blocks,
 * stop_reason end_turn, tool_use, max_tokens, stop_sequence, pause_turn,
 * refusal and model_context_window_exceeded. */
#include <stdio.h>
#include <string.h>

#include "agent/provider.h"

static void headers(const char *key, char h[][512], size_t n)
{
    size_t i = 0;
    if (key && i + 1 < n)
        snprintf(h[i++], 512, "x-api-key: %s", key);
    if (i + 1 < n)
        snprintf(h[i++], 512, "anthropic-version: 2023-06-01");
    h[i][0] = '\0';
}

static json_t *tool(const char *name, const char *description, json_t *schema)
{
    return json_pack("{s:s, s:s, s:O}", "name", name, "description", description, "input_schema",
                     schema);
}

static json_t *body(const char *model, long max_tokens, const char *system, json_t *tools,
                    json_t *messages)
{
    return json_pack("{s:s, s:I, s:s, s:O, s:O}", "model", model, "max_tokens",
                     (json_int_t)max_tokens, "system", system, "tools", tools, "messages",
                     messages);
}

static void add_user(json_t *messages, const char *text)
{
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", text));
}

static void add_results(json_t *messages, const agent_result *r, size_t n)
{
    json_t *content = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(content, json_pack("{s:s, s:s, s:s, s:b}", "type", "tool_result",
                                                 "tool_use_id", r[i].id, "content", r[i].text,
                                                 "is_error", r[i].is_error));
    json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "user", "content", content));
}

static const struct {
    const char *name;
    agent_stop stop;
} stops[] = {
    {"end_turn", AGENT_STOP_END},
    {"tool_use", AGENT_STOP_TOOL_USE},
    {"max_tokens", AGENT_STOP_MAX_TOKENS},
    {"stop_sequence", AGENT_STOP_SEQUENCE},
    {"pause_turn", AGENT_STOP_PAUSE},
    {"refusal", AGENT_STOP_REFUSAL},
    {"model_context_window_exceeded", AGENT_STOP_CONTEXT},
};

static bool parse(json_t *parsed, agent_turn *t, char *why, size_t n)
{
    t->parsed = parsed;
    json_t *content = json_object_get(parsed, "content");
    const char *stop = json_string_value(json_object_get(parsed, "stop_reason"));
    if (!json_is_array(content) || !stop) {
        snprintf(why, n, "the answer has no content array or no stop_reason");
        return false;
    }
    snprintf(t->stop_name, sizeof t->stop_name, "%s", stop);
    t->stop = AGENT_STOP_OTHER;
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
        if (strcmp(stop, stops[i].name) == 0)
            t->stop = stops[i].stop;
    json_t *usage = json_object_get(parsed, "usage");
    t->input_tokens = json_integer_value(json_object_get(usage, "input_tokens"));
    t->output_tokens = json_integer_value(json_object_get(usage, "output_tokens"));
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type) {
            snprintf(why, n, "content block %zu has no type", i);
            return false;
        }
        if (strcmp(type, "text") == 0 && !t->text) {
            t->text = json_string_value(json_object_get(b, "text"));
        } else if (strcmp(type, "tool_use") == 0) {
            if (t->nuses == AGENT_USES_MAX) {
                t->uses_dropped++;
                continue;
            }
            agent_tool_use *u = &t->uses[t->nuses++];
            u->id = json_string_value(json_object_get(b, "id"));
            u->name = json_string_value(json_object_get(b, "name"));
            u->input = json_object_get(b, "input");
            if (!u->id || !u->name) {
                snprintf(why, n, "a tool_use block has no id or name");
                return false;
            }
            if (!json_is_object(u->input)) {
                u->input = NULL;
                u->input_error = "the input is not a JSON object";
            }
        }
    }
    /* the turn goes back as the model wrote it (tool_use ids and all) */
    t->assistant = json_pack("{s:s, s:O}", "role", "assistant", "content", content);
    return true;
}

const agent_provider agent_anthropic = {
    .name = "anthropic",
    .default_base = "https://api.anthropic.com",
    .path = "/v1/messages",
    .key_env = "ANTHROPIC_API_KEY",
    .key_required = true,
    .headers = headers,
    .tool = tool,
    .body = body,
    .add_user = add_user,
    .add_results = add_results,
    .parse = parse,
};

const agent_provider *agent_provider_find(const char *name)
{
    if (strcmp(name, agent_anthropic.name) == 0)
        return &agent_anthropic;
    if (strcmp(name, agent_openai.name) == 0)
        return &agent_openai;
    return NULL;
}

void agent_turn_free(agent_turn *t)
{
    json_decref(t->assistant);
    json_decref(t->parsed);
    memset(t, 0, sizeof *t);
}
