// SPDX-License-Identifier: MIT
/* The shared main() body of every check suite; see suite_main.h. */
#include <stdio.h>
#include <stdlib.h>

#include "suite_main.h"

int suite_main(Suite *suite)
{
	SRunner *runner = srunner_create(suite);
	int run, failed;

	/* CK_VERBOSITY and CK_RUN_CASE/CK_RUN_SUITE from the environment still apply. */
	srunner_run_all(runner, CK_ENV);
	run = srunner_ntests_run(runner);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	if (run == 0) {
		fprintf(stderr, "suite ran no test\n");
		return EXIT_FAILURE;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
