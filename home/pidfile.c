/*
 * pidfile: STATE_DIR/homeportd.pid, how `homeport relay on|off|join|leave`
 * finds the running homeportd to tell it to reload (SIGHUP).
 *
 * homeportd writes its PID once it is up (atomically: a reader sees the
 * old file or the new one) and removes the file when it stops cleanly. A
 * file left by a crash names a process that is gone, or another program
 * that got the PID since: the reader believes it only if /proc/PID/comm
 * is homeportd's name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "home.h"
#include "keyfile.h"
#include "num.h"

int
pidfile_path(const char *state_dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", state_dir, PIDFILE_NAME);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
pidfile_parse(const char *text, size_t len, pid_t *pid_r)
{
	int64_t v;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (num_parse_i64(text, len, 1, PIDFILE_PID_MAX, &v) != 0)
		return -1;
	*pid_r = (pid_t)v;
	return 0;
}

int
pidfile_write(const char *path, char *err, size_t errcap)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	return keyfile_write(path, text, (size_t)n, 0644, err, errcap);
}

void
pidfile_remove(const char *path)
{
	pid_t pid;

	if (pidfile_read(path, &pid) == 0 && pid == getpid())
		(void)unlink(path);
}

int
pidfile_read(const char *path, pid_t *pid_r)
{
	char text[PIDFILE_TEXT_MAX];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0 || (size_t)n == sizeof(text))
		return -1;
	return pidfile_parse(text, (size_t)n, pid_r);
}

int
pidfile_comm_is(pid_t pid, const char *comm)
{
	char path[64], text[PIDFILE_TEXT_MAX];
	size_t want = strlen(comm);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0)
		return 0;
	if (text[n - 1] == '\n')
		n--;
	/* The kernel keeps the first 15 bytes of the name. */
	if (want > PIDFILE_COMM_MAX)
		want = PIDFILE_COMM_MAX;
	return (size_t)n == want && memcmp(text, comm, want) == 0;
}

int
pidfile_signal(const char *path, const char *comm, int sig, pid_t *pid_r)
{
	pid_t pid;

	*pid_r = 0;
	if (pidfile_read(path, &pid) != 0 || !pidfile_comm_is(pid, comm))
		return 0;
	if (kill(pid, sig) != 0)
		return errno == ESRCH ? 0 : -1;
	*pid_r = pid;
	return 1;
}
