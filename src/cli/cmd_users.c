/* cmd_users.c - `pipemend users add|list|remove`: the named users `serve`
 * admits, with their roles (daemon/users.h). `add` prints the new token
 * once, on stdout and nowhere else; the file keeps its hash only. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/users.h"

int cmd_users(cli_ctx *ctx)
{
    const char *sub = ctx->argc ? ctx->argv[0] : "";
    char path[4096];
    if (!config_users_file(ctx->cfg, path, sizeof path))
        return cli_error(EXIT_USAGE, "set users_file: in pipemend.yaml or $PIPEMEND_USERS_FILE",
                         "no users file: neither $XDG_CONFIG_HOME nor $HOME is set");
    pm_err err = {0};
    if (strcmp(sub, "add") == 0 && ctx->argc == 2) {
        users_role role;
        if (!ctx->role || !users_role_parse(ctx->role, &role))
            return cli_error(EXIT_USAGE,
                             "viewer reads; operator also approves, rejects and triggers; agent "
                             "uses MCP and never approves",
                             "users add needs --role viewer|operator|agent");
        char token[65];
        if (users_add(path, ctx->argv[1], role, token, &err) != PM_OK)
            return cli_fail(&err);
        if (ctx->json) {
            cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "name", ctx->argv[1], "role",
                                     users_role_name(role), "token", token, "file", path));
        } else {
            printf("%s\n", token);
            fprintf(stderr,
                    "pipemend: added %s (%s) to %s. The token above is shown this once: clients "
                    "send \"Authorization: Bearer TOKEN\".\n",
                    ctx->argv[1], users_role_name(role), path);
        }
        return 0;
    }
    if (strcmp(sub, "remove") == 0 && ctx->argc == 2) {
        if (users_remove(path, ctx->argv[1], &err) != PM_OK)
            return cli_fail(&err);
        printf("removed %s from %s\n", ctx->argv[1], path);
        return 0;
    }
    if (strcmp(sub, "list") == 0 && ctx->argc == 1) {
        users_list l;
        bool exists;
        if (users_load(path, &l, &exists, &err) != PM_OK)
            return cli_fail(&err);
        if (ctx->json) {
            json_t *arr = json_array();
            for (size_t i = 0; i < l.n; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", l.v[i].name, "role",
                                                     users_role_name(l.v[i].role), "created_at",
                                                     l.v[i].created_at));
            cli_print_json(json_pack("{s:s, s:o}", "file", path, "users", arr));
        } else if (!l.n) {
            printf("no users in %s\n", path);
        } else {
            printf("%-24s %-9s %s\n", "NAME", "ROLE", "CREATED");
            for (size_t i = 0; i < l.n; i++)
                printf("%-24s %-9s %s\n", l.v[i].name, users_role_name(l.v[i].role),
                       l.v[i].created_at);
        }
        users_list_free(&l);
        return 0;
    }
    cli_error(EXIT_USAGE, NULL, "users needs add NAME --role R, list, or remove NAME");
    cli_usage_of("users");
    return EXIT_USAGE;
}
