/* provider.h - the two model APIs pipemend speaks, behind one face: the
 * Anthropic Messages API (anthropic.c) and the OpenAI-compatible
 * chat-completions API (openai.c, which local servers such as llama.cpp's,
 * vLLM and Ollama speak too). The conversation is kept in the provider's
 * own message shape; the session (agent.c) sees turns and tool uses. */
#ifndef PM_AGENT_PROVIDER_H
#define PM_AGENT_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a model's turn ended, as the session acts on it. */
typedef enum agent_stop {
    AGENT_STOP_END,      /* end_turn, stop: the model is done talking */
    AGENT_STOP_TOOL_USE, /* it asks for tool calls */
    AGENT_STOP_MAX_TOKENS,
    AGENT_STOP_SEQUENCE,
    AGENT_STOP_PAUSE, /* pause_turn: send the turn back to continue */
    AGENT_STOP_REFUSAL,
    AGENT_STOP_CONTEXT, /* the context window is full */
    AGENT_STOP_OTHER
} agent_stop;

/* A tool use as the model asked for it. input is NULL when the arguments
 * did not parse (input_error says how). */
typedef struct agent_tool_use {
    const char *id;
    const char *name;
    json_t *input; /* borrowed from the turn */
    const char *input_error;
} agent_tool_use;

#define AGENT_USES_MAX 16

typedef struct agent_turn {
    agent_stop stop;
    char stop_name[40]; /* as the provider said it */
    json_t *assistant;  /* the message to append to the conversation (owned) */
    json_t *parsed;     /* the whole answer (owned; uses borrow from it) */
    agent_tool_use uses[AGENT_USES_MAX];
    size_t nuses;
    size_t uses_dropped; /* tool uses past AGENT_USES_MAX */
    const char *text;    /* the turn's text, may be NULL (borrowed) */
    int64_t input_tokens, output_tokens;
} agent_turn;

void agent_turn_free(agent_turn *t);

/* One tool's result, to send back. */
typedef struct agent_result {
    const char *id; /* the tool use's id */
    const char *text;
    bool is_error;
} agent_result;

typedef struct agent_provider {
    const char *name;         /* "anthropic", "openai" */
    const char *default_base; /* the public endpoint */
    const char *path;         /* appended to the base URL */
    const char *key_env;      /* the key's variable by default */
    bool key_required;        /* openai: local servers need none */
    /* The request's headers with the key (key may be NULL), into h (n
     * slots of size sz each, NULL-terminated). */
    void (*headers)(const char *key, char h[][512], size_t n);
    json_t *(*tool)(const char *name, const char *description, json_t *schema);
    json_t *(*body)(const char *model, long max_tokens, const char *system, json_t *tools,
                    json_t *messages);
    /* Appends a user message with text. */
    void (*add_user)(json_t *messages, const char *text);
    /* Appends the results of a turn's tool uses. */
    void (*add_results)(json_t *messages, const agent_result *r, size_t n);
    /* Reads an answer (status 200) into t (which takes parsed); false
     * with why when it is not one this API gives. */
    bool (*parse)(json_t *parsed, agent_turn *t, char *why, size_t n);
} agent_provider;

extern const agent_provider agent_anthropic;
extern const agent_provider agent_openai;

/* The provider called name, or NULL. */
const agent_provider *agent_provider_find(const char *name);

#endif
