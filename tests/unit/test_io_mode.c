// SPDX-License-Identifier: MIT
/*
 * Choosing a device's data mode against the feature sets of the kernels we meet (6.12: user
 * copy, no auto buffer registration; 7.3: everything) and each backend's modes, and reading a
 * device's mode back from its flags.
 */
#include <errno.h>
#include <string.h>

#include "../common/suite_main.h"
#include "abi/ublk.h"
#include "backend.h"
#include "io_mode.h"

/* GET_FEATURES as 6.12 and 7.3 answer it (tests/vm runs both). */
#define FEATURES_6_12 0x1feULL
#define FEATURES_7_3 0x1fffffULL

struct choice {
	const struct backend_ops *ops;
	enum dev_io_mode wanted;
	uint64_t features;
	int want_ret;
	enum dev_io_mode want_mode;
	const char *want_err; /* substring of the message; NULL when it succeeds */
};

static const struct choice choices[] = {
	/* auto: each backend's best, by kernel */
	{ &backend_null_ops, IO_MODE_AUTO, FEATURES_7_3, 0, IO_MODE_USER_COPY, NULL },
	{ &backend_null_ops, IO_MODE_AUTO, FEATURES_6_12, 0, IO_MODE_USER_COPY, NULL },
	{ &backend_null_ops, IO_MODE_AUTO, UBLK_F_CMD_IOCTL_ENCODE, 0, IO_MODE_COPY, NULL },
	{ &backend_file_ops, IO_MODE_AUTO, FEATURES_7_3, 0, IO_MODE_ZERO_COPY, NULL },
	{ &backend_file_ops, IO_MODE_AUTO, FEATURES_6_12, 0, IO_MODE_COPY, NULL },
	/* forced, offered */
	{ &backend_null_ops, IO_MODE_COPY, FEATURES_7_3, 0, IO_MODE_COPY, NULL },
	{ &backend_file_ops, IO_MODE_COPY, 0, 0, IO_MODE_COPY, NULL },
	{ &backend_null_ops, IO_MODE_ZERO_COPY, FEATURES_7_3, 0, IO_MODE_ZERO_COPY, NULL },
	{ &backend_file_ops, IO_MODE_ZERO_COPY, FEATURES_7_3, 0, IO_MODE_ZERO_COPY, NULL },
	/* forced, the kernel lacks it: named, with the release that has it */
	{ &backend_file_ops, IO_MODE_ZERO_COPY, FEATURES_6_12, -EOPNOTSUPP, IO_MODE_AUTO,
	  "io_mode = zero_copy needs ublk_drv's AUTO_BUF_REG, which this kernel lacks (Linux "
	  "6.16+)" },
	{ &backend_null_ops, IO_MODE_USER_COPY, UBLK_F_CMD_IOCTL_ENCODE, -EOPNOTSUPP, IO_MODE_AUTO,
	  "io_mode = user_copy needs ublk_drv's USER_COPY, which this kernel lacks (Linux 6.5+)" },
	/* forced, the backend cannot: named, with what it can */
	{ &backend_file_ops, IO_MODE_USER_COPY, FEATURES_7_3, -EOPNOTSUPP, IO_MODE_AUTO,
	  "io_mode = user_copy: the file backend cannot serve it (it can: copy, zero_copy, "
	  "batch)" },
	/* batch: any backend, on 7.0+ */
	{ &backend_file_ops, IO_MODE_BATCH, FEATURES_7_3, 0, IO_MODE_BATCH, NULL },
	{ &backend_null_ops, IO_MODE_BATCH, FEATURES_6_12, -EOPNOTSUPP, IO_MODE_AUTO,
	  "io_mode = batch needs ublk_drv's BATCH_IO, which this kernel lacks (Linux 7.0+)" },
};

START_TEST(test_choose)
{
	const struct choice *c = &choices[_i];
	enum dev_io_mode mode = IO_MODE_AUTO;
	char err[256] = "";
	int ret;

	ret = io_mode_choose(c->wanted, c->ops->name, c->ops->io_modes, c->ops->io_mode_order,
			     c->features, &mode, err, sizeof(err));
	ck_assert_msg(ret == c->want_ret, "case %d: %d, want %d (%s)", _i, ret, c->want_ret, err);
	ck_assert_int_eq(mode, c->want_mode);
	if (c->want_err)
		ck_assert_str_eq(err, c->want_err);
	/* What the mode asks of ADD_DEV is what the kernel offers and reads back as the mode. */
	if (!ret) {
		uint64_t flags = io_mode_device_flags(mode, c->ops->io_modes, c->ops->io_mode_order,
						      c->features);

		ck_assert_uint_eq(flags & ~c->features, 0);
		ck_assert_int_eq(io_mode_of_flags(flags | UBLK_F_CMD_IOCTL_ENCODE), mode);
	}
}
END_TEST

START_TEST(test_of_flags)
{
	ck_assert_int_eq(io_mode_of_flags(0), IO_MODE_COPY);
	ck_assert_int_eq(io_mode_of_flags(UBLK_F_USER_RECOVERY | UBLK_F_QUIESCE), IO_MODE_COPY);
	ck_assert_int_eq(io_mode_of_flags(UBLK_F_USER_COPY), IO_MODE_USER_COPY);
	ck_assert_int_eq(io_mode_of_flags(UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY),
			 IO_MODE_ZERO_COPY);
	ck_assert_int_eq(io_mode_of_flags(UBLK_F_BATCH_IO | UBLK_F_AUTO_BUF_REG), IO_MODE_BATCH);
	ck_assert_int_eq(io_mode_data_of_flags(UBLK_F_BATCH_IO | UBLK_F_AUTO_BUF_REG),
			 IO_MODE_ZERO_COPY);
	ck_assert_int_eq(io_mode_data_of_flags(UBLK_F_BATCH_IO), IO_MODE_COPY);
	/* batch carries its data as auto would: zero copy for file on 7.3 */
	ck_assert_uint_eq(io_mode_device_flags(IO_MODE_BATCH, backend_file_ops.io_modes,
					       backend_file_ops.io_mode_order, FEATURES_7_3),
			  UBLK_F_BATCH_IO | UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY);
	ck_assert_str_eq(dev_io_mode_name(IO_MODE_ZERO_COPY), "zero_copy");
	ck_assert_str_eq(dev_io_mode_name((enum dev_io_mode)99), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io_mode");
	TCase *tc = tcase_create("io_mode");

	tcase_add_loop_test(tc, test_choose, 0, (int)(sizeof(choices) / sizeof(choices[0])));
	tcase_add_test(tc, test_of_flags);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
