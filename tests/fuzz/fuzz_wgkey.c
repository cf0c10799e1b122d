/*
 * Fuzz target: WireGuard key text (wgkey_parse). A parsed key must format
 * back to the same 44 characters.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "wgkey.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[WGKEY_LEN];
	char text[WGKEY_TEXT_SIZE];

	if (wgkey_parse((const char *)data, size, key) == 0) {
		wgkey_format(key, text);
		if (size < WGKEY_TEXT_LEN || memcmp(text, data, WGKEY_TEXT_LEN) != 0)
			__builtin_trap();
	}
	return 0;
}
