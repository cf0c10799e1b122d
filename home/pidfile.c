/*
 * pidfile: STATE_DIR/homeportd.pid, how `homeport relay on|off|join|leave`
 * finds the running homeportd to tell it to reload (SIGHUP).
 *
 * homeportd writes its PID once it is up (atomically: a reader sees the
 * old file or the new one) and removes the file when it stops cleanly. A
 * file left by a crash names a process that is gone, or another program
 * that got the PID since; and the directory is the service user's, who
 * could write any PID there. So root's reader holds the process with a
 * pidfd, believes the file only if that process is called homeportd and
 * runs as the service user, and signals through the pidfd: never a PID
 * reused in between. Only a regular file is read (a FIFO there would
 * block the reader).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	struct stat st;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0 || (size_t)n == sizeof(text))
		return -1;
	return pidfile_parse(text, (size_t)n, pid_r);
}

/* The start of /proc/PID/LEAF into text[0..cap - 1), NUL-terminated. Returns its length, or -1. */
static ssize_t
pidfile_proc_read(pid_t pid, const char *leaf, char *text, size_t cap)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, leaf);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, text, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	return n;
}

int
pidfile_comm_is(pid_t pid, const char *comm)
{
	char text[PIDFILE_TEXT_MAX];
	size_t want = strlen(comm);
	ssize_t n = pidfile_proc_read(pid, "comm", text, sizeof(text));

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
pidfile_uid_is(pid_t pid, uid_t uid)
{
	char text[PIDFILE_STATUS_MAX];
	const char *line;
	int64_t v;

	if (pidfile_proc_read(pid, "status", text, sizeof(text)) < 0)
		return 0;
	/* "Uid:\treal\teffective\tsaved\tfs": the effective one counts. */
	if ((line = strstr(text, "\nUid:\t")) == NULL)
		return 0;
	line += strlen("\nUid:\t");
	line += strcspn(line, "\t\n");
	if (*line != '\t')
		return 0;
	line++;
	return num_parse_i64(line, strcspn(line, "\t\n"), 0, UINT32_MAX, &v) == 0 && (uid_t)v == uid;
}

int
pidfile_signal(const char *path, const char *comm, uid_t uid, int sig, pid_t *pid_r)
{
	pid_t pid;
	int fd, rc = 0, saved;

	*pid_r = 0;
	if (pidfile_read(path, &pid) != 0)
		return 0;
	/* Held from here: if it exits, the signal below fails (ESRCH) rather than reach a successor. */
	if ((fd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		return errno == ESRCH ? 0 : -1;
	if (pidfile_comm_is(pid, comm) && pidfile_uid_is(pid, uid)) {
		if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0) {
			*pid_r = pid;
			rc = 1;
		} else {
			rc = errno == ESRCH ? 0 : -1;
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
