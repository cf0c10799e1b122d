/*
 * testutil: what several unit tests share: a private temporary directory,
 * made under /tmp and removed with everything in it.
 */
#ifndef HOMEPORT_TESTUTIL_H
#define HOMEPORT_TESTUTIL_H

#include <stddef.h>

/* Make /tmp/test_TAG.XXXXXX into dir[0..cap). Returns 0 or -1. */
int testutil_mkdtemp(char *dir, size_t cap, const char *tag);

/* Remove dir and everything below it (symlinks are not followed). Returns 0 or -1. */
int testutil_rmtree(const char *dir);

#endif
