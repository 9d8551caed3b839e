/* openai.c - the OpenAI-compatible chat-completions API (POST
 * {base}/chat/completions): the system prompt as the first message,
 * choices[0].message.tool_calls with arguments as JSON text, one `role:
 * tool` message per result, finish_reason stop, tool_calls, length,
 * content_filter. llama.cpp's server, vLLM and Ollama speak it too. */
#include <stdio.h>
#include <string.h>

#include "agent/provider.h"

static void headers(const char *key, char h[][512], size_t n)
{
    size_t i = 0;
    if (key && *key && i + 1 < n)
        snprintf(h[i++], 512, "Authorization: Bearer %s", key);
    h[i][0] = '\0';
}

static json_t *tool(const char *name, const char *description, json_t *schema)
{
    return json_pack("{s:s, s:{s:s, s:s, s:O}}", "type", "function", "function", "name", name,
                     "description", description, "parameters", schema);
}

static json_t *body(const char *model, long max_tokens, const char *system, json_t *tools,
                    json_t *messages)
{
    json_t *all = json_array();
    json_array_append_new(all, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_extend(all, messages);
    return json_pack("{s:s, s:I, s:O, s:o}", "model", model, "max_tokens", (json_int_t)max_tokens,
                     "tools", tools, "messages", all);
}

static void add_user(json_t *messages, const char *text)
{
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", text));
}

static void add_results(json_t *messages, const agent_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_array_append_new(messages, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
                                                  r[i].id, "content", r[i].text));
}

static const struct {
    const char *name;
    agent_stop stop;
} stops[] = {
    {"stop", AGENT_STOP_END},
    {"tool_calls", AGENT_STOP_TOOL_USE},
    {"function_call", AGENT_STOP_TOOL_USE},
    {"length", AGENT_STOP_MAX_TOKENS},
    {"content_filter", AGENT_STOP_REFUSAL},
};

static bool parse(json_t *parsed, agent_turn *t, char *why, size_t n)
{
    t->parsed = parsed;
    json_t *choice = json_array_get(json_object_get(parsed, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    const char *stop = json_string_value(json_object_get(choice, "finish_reason"));
    if (!json_is_object(msg)) {
        snprintf(why, n, "the answer has no choices[0].message");
        return false;
    }
    snprintf(t->stop_name, sizeof t->stop_name, "%s", stop ? stop : "(none)");
    t->stop = AGENT_STOP_OTHER;
    for (size_t i = 0; stop && i < sizeof stops / sizeof stops[0]; i++)
        if (strcmp(stop, stops[i].name) == 0)
            t->stop = stops[i].stop;
    json_t *usage = json_object_get(parsed, "usage");
    t->input_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    t->output_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    t->text = json_string_value(json_object_get(msg, "content"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, c)
    {
        if (t->nuses == AGENT_USES_MAX) {
            t->uses_dropped++;
            continue;
        }
        agent_tool_use *u = &t->uses[t->nuses++];
        json_t *fn = json_object_get(c, "function");
        u->id = json_string_value(json_object_get(c, "id"));
        u->name = json_string_value(json_object_get(fn, "name"));
        if (!u->id || !u->name) {
            snprintf(why, n, "a tool call has no id or function name");
            return false;
        }
        /* arguments are JSON text: kept parsed in the answer's tree */
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *in = args ? json_loads(args, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (json_is_object(in)) {
            json_object_set_new(c, "_parsed", in);
            u->input = in;
        } else {
            json_decref(in);
            u->input_error = "the arguments are not a JSON object";
        }
    }
    /* the model's turn goes back as it was, without our parsed copies */
    json_t *back = json_deep_copy(msg);
    json_array_foreach(json_object_get(back, "tool_calls"), i, c) json_object_del(c, "_parsed");
    t->assistant = back;
    if (t->nuses && t->stop == AGENT_STOP_END)
        t->stop = AGENT_STOP_TOOL_USE; /* some servers say stop with tool calls */
    return true;
}

const agent_provider agent_openai = {
    .name = "openai",
    .default_base = "https://api.openai.com/v1",
    .path = "/chat/completions",
    .key_env = "OPENAI_API_KEY",
    .key_required = false,
    .headers = headers,
    .tool = tool,
    .body = body,
    .add_user = add_user,
    .add_results = add_results,
    .parse = parse,
};
