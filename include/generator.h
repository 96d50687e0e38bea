/* SPDX-License-Identifier: MIT */
/*
 * ublkd-generator, the systemd generator (systemd.generator(7)) that ublkd becomes when run
 * under that name: it makes ublkd.service wait for the mounts that hold the config's disk
 * images, as systemd-cryptsetup-generator does for crypttab.
 */
#ifndef UBLKD_GENERATOR_H
#define UBLKD_GENERATOR_H

/* The drop-in it writes, below the generator's normal directory. */
#define GENERATOR_DROPIN_DIR "ublkd.service.d"
#define GENERATOR_DROPIN "50-ublkd-mounts.conf"
/* Replaces SYSCONFDIR/ublkd.conf as the config file read (for tests). */
#define GENERATOR_CONFIG_ENV "UBLKD_GENERATOR_CONFIG"

/*
 * argv: ublkd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]. Writes
 * NORMAL_DIR/ublkd.service.d/50-ublkd-mounts.conf with one RequiresMountsFor= line per file
 * device of the config that is valid. Never fails a boot: any trouble is logged on stderr and
 * the result is 0 with nothing (or nothing half-written) left behind; 2 only for a wrong
 * command line, which systemd never gives.
 */
int generator_main(int argc, char **argv);

#endif /* UBLKD_GENERATOR_H */
