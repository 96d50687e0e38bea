/* SPDX-License-Identifier: MIT */
/*
 * `ublkd add`'s command line: one flag per device key (--block-size for block_size), checked
 * as the daemon will check them, and turned into the add request's "key = value" lines.
 */
#ifndef UBLKD_ADD_ARGS_H
#define UBLKD_ADD_ARGS_H

#include <stddef.h>
#include <stdio.h>

#define ADD_ARGS_BODY_MAX 8192
#define ADD_ARGS_USAGE 2 /* a bad flag or value, said on err_out */
#define ADD_ARGS_HELP 3	 /* --help: the caller prints the usage */

/*
 * Parses argv (argv[0] is "add"): 0 with the request body in body, ADD_ARGS_USAGE with a
 * message naming the flag on err_out, or ADD_ARGS_HELP. A relative --path is made absolute
 * from the current directory (the daemon has another).
 */
int add_args_parse(int argc, char **argv, char *body, size_t body_bytes, FILE *err_out);

#endif /* UBLKD_ADD_ARGS_H */
