/* pg.c - the test PostgreSQL server (see pg.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "tracker/pg.h"

static char g_url[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void rm_rf(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The newest /usr/lib/postgresql/<ver>/bin that has initdb, or PATH. */
static void pg_bindir(char *out, size_t cap)
{
    glob_t g;
    out[0] = 0;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc) {
        snprintf(out, cap, "%s", g.gl_pathv[g.gl_pathc - 1]);
        char *slash = strrchr(out, '/');
        if (slash)
            *slash = 0;
    }
    globfree(&g);
}

static void become_postgres(void)
{
    if (geteuid() != 0)
        return;
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        fprintf(stderr, "pg: no 'postgres' user to run the server as\n");
        _exit(127);
    }
    if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
        fprintf(stderr, "pg: cannot become postgres: %s\n", strerror(errno));
        _exit(127);
    }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Runs argv as postgres (when root), output to log; returns the exit code. */
static int run_as_pg(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        become_postgres();
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The watchdog: starts postgres as its child, stops it and removes dir when
 * the test runner `runner` exits (or postgres dies). */
static void watchdog(pid_t runner, const char *bindir, const char *dir, int port)
{
    setsid();
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_IGN);
    char pgbin[600], data[600], portarg[16], log[600];
    snprintf(pgbin, sizeof pgbin, "%s/postgres", bindir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(log, sizeof log, "%s/server.log", dir);
    pid_t pg = fork();
    if (pg == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        become_postgres();
        char *argv[] = {pgbin, "-D", data, "-p", portarg, "-k", (char *)dir,
                        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                        "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                        "-c", "max_connections=400", "-c", "shared_buffers=64MB",
                        NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    for (;;) {
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        int status;
        if (pg <= 0 || waitpid(pg, &status, WNOHANG) == pg) {
            pg = 0;
            break;
        }
        if (kill(runner, 0) != 0 && errno == ESRCH)
            break;
    }
    if (pg > 0) {
        kill(pg, SIGQUIT); /* immediate shutdown: the data is thrown away */
        for (int i = 0; i < 100; i++) {
            struct timespec ts = {0, 50 * 1000000L};
            if (waitpid(pg, NULL, WNOHANG) == pg)
                break;
            nanosleep(&ts, NULL);
            if (i == 60)
                kill(pg, SIGKILL);
        }
    }
    rm_rf(dir);
    char lock[600];
    snprintf(lock, sizeof lock, "%s.lock", dir);
    unlink(lock);
    _exit(0);
}

static bool ping(int port)
{
    char conn[128];
    snprintf(conn, sizeof conn, "host=127.0.0.1 port=%d dbname=postgres user=postgres "
                                "connect_timeout=2",
             port);
    return PQping(conn) == PQPING_OK;
}

/* Starts the cluster; returns its port. Called under the lock. */
static int start_cluster(pid_t runner, const char *dir)
{
    char bindir[512], data[600], log[600], initdb[600];
    pg_bindir(bindir, sizeof bindir);
    if (!bindir[0])
        FAIL("PostgreSQL not installed (no /usr/lib/postgresql/*/bin/initdb; run "
             "scripts/bootstrap)");
    rm_rf(dir);
    if (mkdir(dir, 0700) != 0)
        FAIL("pg: mkdir %s: %s", dir, strerror(errno));
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) != 0)
            FAIL("pg: cannot give %s to the postgres user", dir);
    }
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(log, sizeof log, "%s/initdb.log", dir);
    snprintf(initdb, sizeof initdb, "%s/initdb", bindir);
    char *argv[] = {initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--no-sync", "--no-instructions", NULL};
    int rc = run_as_pg(argv, log);
    if (rc != 0) {
        char *l = cs_test_read_file(log, NULL);
        FAIL("pg: initdb failed (%d): %s", rc, l);
    }
    int port = free_port();
    if (port <= 0)
        FAIL("pg: no free port");
    pid_t w = fork();
    if (w == 0) {
        /* a grandchild, so the watchdog is nobody's zombie */
        pid_t w2 = fork();
        if (w2 == 0)
            watchdog(runner, bindir, dir, port);
        _exit(0);
    }
    waitpid(w, NULL, 0);
    for (int i = 0; i < 300; i++) {
        if (ping(port))
            return port;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    char slog[700];
    snprintf(slog, sizeof slog, "%s/server.log", dir);
    FAIL("pg: the server did not come up on port %d (see %s)", port, slog);
}

const char *cs_test_pg_url(void)
{
    pid_t runner = getppid();
    char dir[256], lock[300], portfile[300];
    snprintf(dir, sizeof dir, "/tmp/cs_pg.%d", (int)runner);
    snprintf(lock, sizeof lock, "%s.lock", dir);
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0)
        FAIL("pg: lock %s: %s", lock, strerror(errno));
    int port = -1;
    FILE *f = fopen(portfile, "r");
    if (f) {
        if (fscanf(f, "%d", &port) != 1)
            port = -1;
        fclose(f);
    }
    if (port <= 0 || !ping(port)) {
        port = start_cluster(runner, dir);
        char tmp[320];
        snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
        f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, portfile) != 0)
            FAIL("pg: cannot write %s", portfile);
    }
    flock(fd, LOCK_UN);
    close(fd);

    static unsigned counter;
    char conn[128], db[64];
    snprintf(conn, sizeof conn, "host=127.0.0.1 port=%d dbname=postgres user=postgres", port);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(db, sizeof db, "t_%d_%u_%ld", (int)getpid(), counter++, (long)(now.tv_nsec % 100000));
    PGconn *c = PQconnectdb(conn);
    if (PQstatus(c) != CONNECTION_OK)
        FAIL("pg: connect: %s", PQerrorMessage(c));
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        FAIL("pg: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    snprintf(g_url, sizeof g_url, "postgresql://postgres@127.0.0.1:%d/%s", port, db);
    return g_url;
}
