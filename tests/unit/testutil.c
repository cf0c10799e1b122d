#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int
testutil_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
testutil_mkdtemp(char *dir, size_t cap, const char *tag)
{
	if (snprintf(dir, cap, "/tmp/test_%s.XXXXXX", tag) >= (int)cap)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

int
testutil_rmtree(const char *dir)
{
	return nftw(dir, testutil_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
