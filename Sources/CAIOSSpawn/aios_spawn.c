#define _GNU_SOURCE
#include "aios_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

static int spawn_with(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                      const char *log_path, int stdin_fd, int stdout_fd);

int aios_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd, const char *log_path) {
    return spawn_with(pid, path, argv, envp, cwd, log_path, -1, -1);
}

int aios_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                     const char *log_path, int *to_child, int *from_child) {
    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) != 0) return errno;
    if (pipe2(output, O_CLOEXEC) != 0) {
        int saved = errno;
        close(input[0]);
        close(input[1]);
        return saved;
    }
    int status = spawn_with(pid, path, argv, envp, cwd, log_path, input[0], output[1]);
    close(input[0]);
    close(output[1]);
    if (status != 0) {
        close(input[1]);
        close(output[0]);
        return status;
    }
    *to_child = input[1];
    *from_child = output[0];
    return 0;
}

static int spawn_with(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                      const char *log_path, int stdin_fd, int stdout_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int status = posix_spawn_file_actions_init(&actions);
    if (status != 0) return status;
    status = posix_spawnattr_init(&attributes);
    if (status != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return status;
    }

    if (stdin_fd >= 0) {
        /* dup2 clears close-on-exec on the copy; the pipe ends themselves close at exec. */
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
        if (status == 0) status = posix_spawn_file_actions_addopen(&actions, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    } else {
        if (status == 0) status = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        if (status == 0) status = posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (status == 0) status = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
#ifdef __linux__
    if (status == 0 && cwd != NULL) status = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    /* Nothing else of ours (listening sockets, the registry's files, pipes) leaks into an instance. */
    if (status == 0) status = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif

    sigset_t defaults, mask;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGPIPE);
    sigemptyset(&mask);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_SETSID
    flags |= POSIX_SPAWN_SETSID;
#endif
    if (status == 0) status = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (status == 0) status = posix_spawnattr_setsigmask(&attributes, &mask);
    if (status == 0) status = posix_spawnattr_setflags(&attributes, flags);

    if (status == 0) status = posix_spawn(pid, path, &actions, &attributes, argv, envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return status;
}
