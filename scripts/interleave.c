/* scripts/interleave.c: scripts/bench's interleaved runner, for the VMs (which have no Python).
 *
 *   interleave ROUNDS WARMUP LABEL=ARGV... 
 *
 * Runs each command (ARGV split at spaces; no quoting) once per round, in an order shuffled
 * each round with a fixed seed, so that drift falls on every command alike and no command
 * always follows the same one; the first WARMUP rounds are not counted. Each time is the
 * wall time from posix_spawn to waitpid (stdout to /dev/null), in ms. Prints one JSON object
 * {"LABEL": [ms, ...], ...}; a command that fails ends the run with status 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CMDS 16
#define MAX_ARGS 32

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: interleave ROUNDS WARMUP LABEL=ARGV...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), warmup = atoi(argv[2]), n = argc - 3;
    if (rounds < 1 || warmup < 0 || n > MAX_CMDS) return 2;
    char *label[MAX_CMDS], *args[MAX_CMDS][MAX_ARGS];
    for (int i = 0; i < n; i++) {
        char *eq = strchr(argv[i + 3], '=');
        if (!eq) return 2;
        *eq = 0;
        label[i] = argv[i + 3];
        int a = 0;
        for (char *t = strtok(eq + 1, " "); t && a < MAX_ARGS - 1; t = strtok(NULL, " ")) args[i][a++] = t;
        args[i][a] = NULL;
    }
    double *ms = calloc((size_t)n * rounds, sizeof *ms);
    int order[MAX_CMDS];
    for (int i = 0; i < n; i++) order[i] = i;
    srand(4242);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    for (int r = 0; r < warmup + rounds; r++) {
        for (int i = n - 1; i > 0; i--) {
            int j = rand() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int k = 0; k < n; k++) {
            int c = order[k], status;
            pid_t pid;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            if (posix_spawnp(&pid, args[c][0], &fa, NULL, args[c], environ) != 0 || waitpid(pid, &status, 0) < 0 ||
                !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "interleave: %s failed\n", label[c]);
                return 1;
            }
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (r >= warmup)
                ms[c * rounds + r - warmup] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        }
    }
    printf("{");
    for (int c = 0; c < n; c++) {
        printf("%s\"%s\": [", c ? ", " : "", label[c]);
        for (int r = 0; r < rounds; r++) printf("%s%.3f", r ? ", " : "", ms[c * rounds + r]);
        printf("]");
    }
    printf("}\n");
    return 0;
}
