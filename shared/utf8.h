/*
 * utf8: checks of UTF-8 from the network (SMTPUTF8 addresses, IMAP
 * mailbox names). Pure.
 */
#ifndef HOMEPORT_UTF8_H
#define HOMEPORT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The length (2 to 4) of the well-formed UTF-8 character of code point
 * U+00A0 or above at p[0..left): no overlong form, surrogate, code point
 * past U+10FFFF or C1 control. 0 if there is none (ASCII included).
 */
size_t utf8_printable_len(const uint8_t *p, size_t left);

#endif
