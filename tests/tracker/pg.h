/* pg.h - a real PostgreSQL server for tests, started once per cs_tests run.
 *
 * The first test that asks starts a cluster (initdb + postgres from Debian's
 * postgresql package, /usr/lib/postgresql/<ver>/bin, as the `postgres` system
 * user when running as root) on 127.0.0.1 on a free port, in
 * /tmp/cs_pg.<runner pid>/; later tests of the same run reuse it (a file
 * lock guards the start). A watchdog process outside the test's process
 * group stops the server and removes the directory when the runner exits.
 * Each call creates a fresh database, so tests never see each other's rows. */
#ifndef CS_TEST_PG_H
#define CS_TEST_PG_H

/* A postgresql:// URL of a new empty database (static storage, valid until
 * the next call). Fails the test when PostgreSQL cannot be started. */
const char *cs_test_pg_url(void);

#endif
