#ifndef AIOS_SPAWN_H
#define AIOS_SPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` in a new session (its pid is its process group id), in directory `cwd`,
/// with stdin from /dev/null and stdout and stderr appended to `log_path`, and default handling of
/// SIGTERM, SIGINT and SIGPIPE. Returns 0 and sets `*pid`, or an errno value.
int aios_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd, const char *log_path);

/// Like `aios_spawn`, but standard input and output are pipes to the caller: `*to_child` is the write end of
/// the child's stdin and `*from_child` the read end of its stdout (both close-on-exec in the caller); standard
/// error is appended to `log_path`. Returns 0, or an errno value (no descriptor is left open then).
int aios_spawn_piped(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *cwd,
                     const char *log_path, int *to_child, int *from_child);

#endif
