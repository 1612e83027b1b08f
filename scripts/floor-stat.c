/* scripts/floor-stat.c: the kernel's floor under `rein stat GROUP...` on a hybrid host.
 *
 * scripts/bench builds this (cc -O2) and runs it beside `rein stat` over the same groups.
 * It opens, reads and closes the interface files `rein stat` reads for a group shaped
 * like a `rein run --memory --cpu` group (a directory in the cgroup2 mount and in the v1
 * cpu, memory and pids hierarchies; the list is strace's of one `rein stat` run), and
 * does nothing else: no hierarchy detection, no parsing, no output, no error messages.
 * Each group directory is opened once (O_PATH) and its files by name beside it, read to
 * the end (read(2) until it returns 0, as every reader of a seq_file must). No tool can
 * read these figures faster on this host; the gap between this and rein is what rein
 * itself costs.
 *
 *   floor-stat [-j THREADS] GROUP...    GROUP relative to each hierarchy's root; with -j
 *                                       the groups are split between THREADS threads, as
 *                                       rein stat spreads its reads over the CPUs.
 *
 * `rein stat` also asks the kernel for the group's network programs (one bpf(2)) and its
 * policy-action record (one fgetxattr(2)): not files, and not in this floor.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hierarchy {
    const char *root;
    const char *const *files;
};

static const char *const unified[] = {"cgroup.controllers", "cpu.stat",        "cgroup.events",
                                      "cpu.pressure",       "memory.pressure", "io.pressure", NULL};
static const char *const cpu[] = {"cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", NULL};
static const char *const memory[] = {"memory.usage_in_bytes",       "memory.max_usage_in_bytes",
                                     "memory.limit_in_bytes",       "memory.memsw.limit_in_bytes",
                                     "memory.memsw.usage_in_bytes", "memory.failcnt",
                                     "memory.memsw.failcnt",        "memory.oom_control",
                                     NULL};
static const char *const pids[] = {"pids.current", "pids.peak", "pids.max", "pids.events", NULL};

static const struct hierarchy hierarchies[] = {
    {"/sys/fs/cgroup/unified", unified},
    {"/sys/fs/cgroup/cpu", cpu},
    {"/sys/fs/cgroup/memory", memory},
    {"/sys/fs/cgroup/pids", pids},
};
#define NH (sizeof hierarchies / sizeof hierarchies[0])

static int roots[NH];

struct work {
    char **groups;
    int n;
};

static void *read_groups(void *arg) {
    struct work *w = arg;
    char buf[4096];
    for (int g = 0; g < w->n; g++) {
        for (size_t h = 0; h < NH; h++) {
            int dir = openat(roots[h], w->groups[g], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (dir < 0) {
                perror(w->groups[g]);
                exit(1);
            }
            for (const char *const *f = hierarchies[h].files; *f; f++) {
                int fd = openat(dir, *f, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) continue; /* absent in this kernel: rein reads it as absent too */
                while (read(fd, buf, sizeof buf) > 0) {
                }
                close(fd);
            }
            close(dir);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = 1, first = 1;
    if (argc > 2 && strcmp(argv[1], "-j") == 0) {
        threads = atoi(argv[2]);
        first = 3;
    }
    int n = argc - first;
    if (n < 1 || threads < 1) {
        fprintf(stderr, "usage: floor-stat [-j THREADS] GROUP...\n");
        return 2;
    }
    for (size_t h = 0; h < NH; h++) {
        roots[h] = open(hierarchies[h].root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (roots[h] < 0) {
            perror(hierarchies[h].root);
            return 1;
        }
    }
    if (threads > n) threads = n;
    pthread_t t[threads];
    struct work w[threads];
    int chunk = (n + threads - 1) / threads;
    for (int i = 0; i < threads; i++) {
        int from = i * chunk, to = from + chunk < n ? from + chunk : n;
        w[i] = (struct work){argv + first + from, to > from ? to - from : 0};
        if (i > 0 && pthread_create(&t[i], NULL, read_groups, &w[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    read_groups(&w[0]);
    for (int i = 1; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
