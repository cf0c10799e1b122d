/*
 * Unit tests for home/pidfile: the PID file's text (good and bad), the
 * file written and read back, removed only by the process it names, and
 * the signal sent only to a running process of the right name and user
 * (not to one that has exited, not to another program or another user's
 * process that has the PID); a FIFO or a symbolic link in the file's
 * place is not read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../home/home.h"
#include "testutil.h"

static void
test_pidfile_parse(void **state)
{
	static const struct {
		const char *text;
		long pid;		/* 0: refused */
	} cases[] = {
		{ "123\n", 123 },
		{ "123", 123 },
		{ "1\n", 1 },
		{ "4194304\n", 4194304 },
		{ "4194305\n", 0 },
		{ "0\n", 0 },
		{ "-5\n", 0 },
		{ "", 0 },
		{ "\n", 0 },
		{ " 12\n", 0 },
		{ "12 \n", 0 },
		{ "12a\n", 0 },
		{ "12\n\n", 0 },
		{ "99999999999999999999\n", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = 0;
		int rc = pidfile_parse(cases[i].text, strlen(cases[i].text), &pid);

		if (cases[i].pid == 0) {
			if (rc != -1)
				fail_msg("\"%s\" taken as %ld", cases[i].text, (long)pid);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(pid, cases[i].pid);
		}
	}
}

static void
test_pidfile_write_read_remove(void **state)
{
	struct testutil_tmpdir *t = testutil_tmpdir_new("pidfile", PIDFILE_NAME);
	char err[256], path[2 * TESTUTIL_DIR_MAX];
	struct stat st;
	pid_t pid = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(pidfile_path(t->dir, path, sizeof(path)), 0);
	assert_string_equal(path, t->path);
	assert_int_equal(pidfile_path(t->dir, path, strlen(t->dir) + 3), -1);
	assert_int_equal(pidfile_read(t->path, &pid), -1);	/* none yet */
	assert_int_equal(pidfile_write(t->path, err, sizeof(err)), 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(pidfile_read(t->path, &pid), 0);
	assert_int_equal(pid, getpid());
	pidfile_remove(t->path);
	assert_int_equal(stat(t->path, &st), -1);
	/* Another process's file (a newer homeportd's) stays. */
	assert_int_equal(testutil_write_file(t->path, "1\n", 2, 0644), 0);
	pidfile_remove(t->path);
	assert_int_equal(stat(t->path, &st), 0);
	/* A file too long to be a PID is not one. */
	assert_int_equal(testutil_write_file(t->path, "1234567890123456789012345678901234567890\n", 41, 0644), 0);
	assert_int_equal(pidfile_read(t->path, &pid), -1);
	testutil_tmpdir_free(&t);
}

static void
test_pidfile_comm(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_SET_NAME, "hp-pidfile-test", 0L, 0L, 0L), 0);
	assert_int_equal(pidfile_comm_is(getpid(), "hp-pidfile-test"), 1);
	assert_int_equal(pidfile_comm_is(getpid(), "hp-pidfile-tes"), 0);
	assert_int_equal(pidfile_comm_is(getpid(), "homeportd"), 0);
	/* The kernel keeps 15 bytes of a name: a longer one compares by those. */
	assert_int_equal(pidfile_comm_is(getpid(), "hp-pidfile-test-longer"), 1);
	assert_int_equal(pidfile_comm_is(getpid(), "hp-pidfile-tost-longer"), 0);
	assert_int_equal(pidfile_comm_is(0, "hp-pidfile-test"), 0);
}

static int t_hups;

static void
t_on_hup(int sig)
{
	(void)sig;
	t_hups++;
}

static void
test_pidfile_signal(void **state)
{
	struct testutil_tmpdir *t = testutil_tmpdir_new("pidfile", PIDFILE_NAME);
	struct sigaction sa = { .sa_handler = t_on_hup }, old;
	char err[256], text[32];
	pid_t pid = -1, child;
	int status, n;

	(void)state;
	assert_non_null(t);
	assert_int_equal(prctl(PR_SET_NAME, "hp-pidfile-test", 0L, 0L, 0L), 0);
	assert_int_equal(sigaction(SIGHUP, &sa, &old), 0);
	/* No file: nobody to tell. */
	assert_int_equal(pidfile_signal(t->path, "hp-pidfile-test", geteuid(), SIGHUP, &pid), 0);
	assert_int_equal(pid, 0);
	/* Our own file and name: the signal comes. */
	assert_int_equal(pidfile_write(t->path, err, sizeof(err)), 0);
	assert_int_equal(pidfile_signal(t->path, "hp-pidfile-test", geteuid(), SIGHUP, &pid), 1);
	assert_int_equal(pid, getpid());
	assert_int_equal(t_hups, 1);
	/* The right name but another user (a process the service user does not own): nothing sent. */
	assert_int_equal(pidfile_signal(t->path, "hp-pidfile-test", geteuid() + 1, SIGHUP, &pid), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(t_hups, 1);
	assert_int_equal(pidfile_uid_is(getpid(), geteuid()), 1);
	assert_int_equal(pidfile_uid_is(getpid(), geteuid() + 1), 0);
	/* Another program has the PID: nothing sent. */
	assert_int_equal(pidfile_signal(t->path, "homeportd", geteuid(), SIGHUP, &pid), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(t_hups, 1);
	/* A process that has exited (its PID file left behind): nothing sent. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	n = snprintf(text, sizeof(text), "%ld\n", (long)child);
	assert_int_equal(testutil_write_file(t->path, text, (size_t)n, 0644), 0);
	assert_int_equal(pidfile_signal(t->path, "hp-pidfile-test", geteuid(), SIGHUP, &pid), 0);
	assert_int_equal(t_hups, 1);
	/* A FIFO in its place (the directory is the service user's): refused at once, not waited on. */
	assert_int_equal(unlink(t->path), 0);
	assert_int_equal(mkfifo(t->path, 0644), 0);
	assert_int_equal(pidfile_read(t->path, &pid), -1);
	assert_int_equal(pidfile_signal(t->path, "hp-pidfile-test", geteuid(), SIGHUP, &pid), 0);
	/* A symbolic link to a good file: not followed. */
	assert_int_equal(unlink(t->path), 0);
	{
		char real[600];

		snprintf(real, sizeof(real), "%s/real.pid", t->dir);
		assert_int_equal(pidfile_write(real, err, sizeof(err)), 0);
		assert_int_equal(symlink(real, t->path), 0);
		assert_int_equal(pidfile_read(t->path, &pid), -1);
		assert_int_equal(pidfile_read(real, &pid), 0);
	}
	assert_int_equal(t_hups, 1);
	assert_int_equal(sigaction(SIGHUP, &old, NULL), 0);
	testutil_tmpdir_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pidfile_parse),
		cmocka_unit_test(test_pidfile_write_read_remove),
		cmocka_unit_test(test_pidfile_comm),
		cmocka_unit_test(test_pidfile_signal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
