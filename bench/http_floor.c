/* http_floor.c - the floor of bench/serve_load.sh: the least an HTTP server
 * on libmicrohttpd can do on this machine, answering every request with a
 * fixed JSON body, in the same threading model as `pipemend serve` (a
 * thread per connection). Nothing is read from a warehouse; what
 * pipemend's routes add on top of this is their own cost.
 *
 *   cc -O2 -o build/bench/http_floor bench/http_floor.c -lmicrohttpd
 *   build/bench/http_floor PORT            (serves until SIGINT/SIGTERM) */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    static const char body[] = "{\"status\":\"ok\"}";
    (void)cls, (void)url, (void)method, (void)version, (void)data, (void)size, (void)state;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)atoi(argv[1]),
        NULL, NULL, answer, NULL, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "cannot listen on %s\n", argv[1]);
        return 1;
    }
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
