/* scripts/floor.c: the kernel's floor under `rein run` and `rein exec`, on a hybrid host
 * and on a pure cgroup v2 one.
 *
 * scripts/bench builds this (cc -O2) and runs it beside rein and its peers. It does the
 * cgroup work of one command with nothing else around it: no argument parsing, no
 * hierarchy detection, no ownership mark, no checks, no accounting, no error messages.
 * No tool can start a command in a group faster on this host; the gap between this and
 * rein is what rein itself costs.
 *
 *   floor run PARENT    like `rein run --parent PARENT --memory 256M --cpu 50% -- /bin/true`:
 *                       mkdir PARENT/floor-PID in cgroup2, cpu and memory; write the CPU
 *                       period and quota and the memory limit; clone3 a child straight into
 *                       the cgroup2 group (CLONE_INTO_CGROUP), which writes its pid into the
 *                       v1 cgroup.procs files and execs /bin/true; wait; rmdir the three.
 *   floor exec GROUP    like `rein exec GROUP -- /bin/true` (a group in cgroup2, cpu and
 *                       memory): write our pid into its three cgroup.procs, exec /bin/true.
 *   floor run-v2 PARENT, floor exec-v2 GROUP
 *                       the same on a pure v2 host (cgroup2 at /sys/fs/cgroup, memory and
 *                       cpu enabled in PARENT's cgroup.subtree_control): mkdir one group,
 *                       write memory.max and cpu.max, clone3 into it, wait, rmdir; and one
 *                       cgroup.procs write before the exec.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"};

static void die(const char *what) {
    perror(what);
    exit(125);
}

static void put(const char *dir, const char *file, const char *value) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) die(path);
    close(fd);
}

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor run|run-v2 PARENT | floor exec|exec-v2 GROUP\n");
        return 2;
    }
    char *const true_argv[] = {"/bin/true", NULL};
    char dirs[3][512], pid[32];
    if (strcmp(argv[1], "exec") == 0) {
        snprintf(pid, sizeof pid, "%d", getpid());
        for (int i = 0; i < 3; i++) {
            snprintf(dirs[i], sizeof dirs[i], "%s/%s", roots[i], argv[2]);
            put(dirs[i], "cgroup.procs", pid);
        }
        execv(true_argv[0], true_argv);
        die("execv");
    }
    if (strcmp(argv[1], "exec-v2") == 0) {
        snprintf(pid, sizeof pid, "%d", getpid());
        snprintf(dirs[0], sizeof dirs[0], "/sys/fs/cgroup/%s", argv[2]);
        put(dirs[0], "cgroup.procs", pid);
        execv(true_argv[0], true_argv);
        die("execv");
    }
    int v2 = strcmp(argv[1], "run-v2") == 0;
    if (!v2 && strcmp(argv[1], "run") != 0) return 2;
    int n = v2 ? 1 : 3;
    for (int i = 0; i < n; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s/floor-%d", v2 ? "/sys/fs/cgroup" : roots[i], argv[2], getpid());
        if (mkdir(dirs[i], 0755) < 0) die(dirs[i]);
    }
    if (v2) {
        put(dirs[0], "memory.max", "268435456");
        put(dirs[0], "cpu.max", "50000 100000");
    } else {
        put(dirs[1], "cpu.cfs_period_us", "100000");
        put(dirs[1], "cpu.cfs_quota_us", "50000");
        put(dirs[2], "memory.limit_in_bytes", "268435456");
    }
    int cg = open(dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) die(dirs[0]);
    struct clone_args_v2 args = {.flags = 0x200000000ULL /* CLONE_INTO_CGROUP */, .exit_signal = SIGCHLD,
                                 .cgroup = (uint64_t)cg};
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child < 0) die("clone3");
    if (child == 0) {
        if (!v2) {
            snprintf(pid, sizeof pid, "%d", getpid());
            put(dirs[1], "cgroup.procs", pid);
            put(dirs[2], "cgroup.procs", pid);
        }
        execv(true_argv[0], true_argv);
        _exit(127);
    }
    int status;
    if (waitpid((pid_t)child, &status, 0) < 0) die("waitpid");
    close(cg);
    for (int i = 0; i < n; i++)
        if (rmdir(dirs[i]) < 0) die(dirs[i]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
