/*
 * pgconnect-bench-c - the raw-libpq side of scripts/bench.sh.
 *
 * Measures with libpq directly what pgconnect-bench (PGConnect) measures, with the same call
 * shapes, so the ratios show what PGConnect adds:
 *
 *   pgconnect-bench-c connect N CONNINFO   N connects + certificate logins (PQconnectdbParams),
 *                                          after one warm-up; prints "connect_us <µs>" per connect,
 *                                          then "connect_cpu_us <µs> user_us <µs> sys_us <µs>":
 *                                          the process's CPU per connect + close over the N
 *   pgconnect-bench-c select1 N CONNINFO   N sequential "SELECT 1" (PQsendQueryParams, text
 *                                          format, PQgetResult until NULL; the value is read);
 *                                          prints "select1_per_s <rate>", then
 *                                          "select1_cpu_us <µs> user_us <µs> sys_us <µs>" per query
 *
 * CPU is getrusage(RUSAGE_SELF) around the measured loop (all threads of the process, user +
 * system), as pgconnect-bench measures it.
 *   pgconnect-bench-c decode K ROWS CONNINFO
 *                                          K times: fetch ROWS rows x (int, text, timestamp, bool)
 *                                          and decode every value (strtol, text length, timestamp
 *                                          to epoch seconds, bool); prints "decode_ms <ms>" per
 *                                          fetch and "decode_checksum <n>"
 *   pgconnect-bench-c spawn -- CMD [ARG...]
 *                                          runs CMD once (stdin, stdout, stderr on /dev/null) and
 *                                          prints "wall_us <µs> maxrss_kb <KiB> status <exit>";
 *                                          maxrss is the child's peak RSS from wait4(2), the
 *                                          number GNU time prints as %M
 *
 * Keep the query text and the checksum in step with Benchmarks/PGConnectBench/main.swift.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const DECODE_SQL =
    "SELECT i, 'row ' || i, timestamp '2024-01-01 00:00:00' + i * interval '1.25 seconds', i % 3 = 0 "
    "FROM generate_series(1, $1::int) AS i";

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The process's CPU time so far (all threads), user and system, in µs. */
struct cpu {
    double user, sys;
};
static struct cpu cpu_now(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (struct cpu){(double)usage.ru_utime.tv_sec * 1e6 + (double)usage.ru_utime.tv_usec,
                        (double)usage.ru_stime.tv_sec * 1e6 + (double)usage.ru_stime.tv_usec};
}

/* "NAME <µs> user_us <µs> sys_us <µs>": CPU per operation between two cpu_now() readings. */
static void print_cpu(const char *name, struct cpu before, struct cpu after, long operations) {
    double user = (after.user - before.user) / (double)operations;
    double sys = (after.sys - before.sys) / (double)operations;
    printf("%s %.2f user_us %.2f sys_us %.2f\n", name, user + sys, user, sys);
}

static void die(const char *what, const char *message) {
    fprintf(stderr, "pgconnect-bench-c: %s: %s\n", what, message ? message : "");
    exit(1);
}

static PGconn *connect_conninfo(const char *conninfo) {
    const char *keywords[] = {"dbname", NULL};
    const char *values[] = {conninfo, NULL};
    /* expand_dbname = 1: the conninfo string's keywords (sslmode=verify-full, sslrootcert,
     * sslcert, sslkey, ...) are passed as PQconnectdbParams parameters. */
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL) die("connect", "out of memory");
    if (PQstatus(conn) != CONNECTION_OK) die("connect", PQerrorMessage(conn));
    return conn;
}

/* PGConnect's query path: PQsendQueryParams in text format, then every result until NULL. */
static PGresult *query(PGconn *conn, const char *sql, int nparams, const char *const *values) {
    if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0)) die("query", PQerrorMessage(conn));
    PGresult *last = NULL, *result;
    while ((result = PQgetResult(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR)
            die("query", PQresultErrorMessage(result));
        PQclear(last);
        last = result;
    }
    if (last == NULL) die("query", PQerrorMessage(conn));
    return last;
}

static long parse_count(const char *text) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value <= 0) die("bad count", text);
    return value;
}

static int cmd_connect(long n, const char *conninfo) {
    PQfinish(connect_conninfo(conninfo)); /* warm-up: libraries, OpenSSL init, page cache */
    double *elapsed = calloc((size_t)n, sizeof *elapsed);
    if (elapsed == NULL) die("connect", "out of memory");
    struct cpu before = cpu_now();
    for (long i = 0; i < n; i++) {
        double start = now_us();
        PGconn *conn = connect_conninfo(conninfo);
        elapsed[i] = now_us() - start;
        PQfinish(conn);
    }
    struct cpu after = cpu_now();
    for (long i = 0; i < n; i++) printf("connect_us %.1f\n", elapsed[i]);
    print_cpu("connect_cpu_us", before, after, n);
    free(elapsed);
    return 0;
}

static int cmd_select1(long n, const char *conninfo) {
    PGconn *conn = connect_conninfo(conninfo);
    long sum = 0;
    for (int i = 0; i < 100; i++) { /* warm-up */
        PGresult *result = query(conn, "SELECT 1", 0, NULL);
        sum += strtol(PQgetvalue(result, 0, 0), NULL, 10);
        PQclear(result);
    }
    struct cpu before = cpu_now();
    double start = now_us();
    for (long i = 0; i < n; i++) {
        PGresult *result = query(conn, "SELECT 1", 0, NULL);
        sum += strtol(PQgetvalue(result, 0, 0), NULL, 10);
        PQclear(result);
    }
    double elapsed = now_us() - start;
    struct cpu after = cpu_now();
    if (sum != n + 100) die("select1", "wrong answer");
    printf("select1_per_s %.1f\n", (double)n / (elapsed / 1e6));
    print_cpu("select1_cpu_us", before, after, n);
    PQfinish(conn);
    return 0;
}

/* Howard Hinnant's days_from_civil (proleptic Gregorian), as PGConnect's PostgresTimestamp. */
static long days_from_civil(long y, long m, long d) {
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char **p, int count, long *out) {
    long value = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return 0;
        value = value * 10 + (c - '0');
    }
    *p += count;
    *out = value;
    return 1;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]" (DateStyle ISO) to seconds since the epoch (UTC);
 * returns 0 when the text is not such a timestamp. */
static int parse_timestamp(const char *p, double *epoch) {
    long year, month, day, hour, minute, second, oh = 0, om = 0;
    if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &month) || *p++ != '-' || !digits(&p, 2, &day))
        return 0;
    if (*p != ' ' && *p != 'T') return 0;
    p++;
    if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &minute) || *p++ != ':' || !digits(&p, 2, &second))
        return 0;
    double fraction = 0, scale = 0.1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10) fraction += (*p - '0') * scale;
    }
    int sign = 0;
    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (!digits(&p, 2, &oh)) return 0;
        if (*p == ':' && (p++, !digits(&p, 2, &om))) return 0;
    }
    if (*p != '\0') return 0;
    long seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
        - sign * (oh * 3600 + om * 60);
    *epoch = (double)seconds + fraction;
    return 1;
}

static int cmd_decode(long repetitions, long rows, const char *conninfo) {
    PGconn *conn = connect_conninfo(conninfo);
    char rows_text[32];
    snprintf(rows_text, sizeof rows_text, "%ld", rows);
    const char *params[] = {rows_text};
    long long checksum = 0;
    for (long r = 0; r <= repetitions; r++) { /* r == 0: warm-up */
        double start = now_us();
        PGresult *result = query(conn, DECODE_SQL, 1, params);
        int n = PQntuples(result);
        if (n != rows || PQnfields(result) != 4) die("decode", "unexpected result shape");
        long long sum = 0;
        for (int i = 0; i < n; i++) {
            long id = PQgetisnull(result, i, 0) ? 0 : strtol(PQgetvalue(result, i, 0), NULL, 10);
            long length = PQgetisnull(result, i, 1) ? 0 : (long)strlen(PQgetvalue(result, i, 1));
            double epoch = 0;
            if (!PQgetisnull(result, i, 2) && !parse_timestamp(PQgetvalue(result, i, 2), &epoch))
                die("decode", "unparsable timestamp");
            const char *b = PQgetvalue(result, i, 3);
            int flag = !PQgetisnull(result, i, 3) && b[0] == 't' && b[1] == '\0';
            sum += id + length + (long long)(epoch - 1.7e9) + flag;
        }
        PQclear(result);
        double elapsed = now_us() - start;
        if (r > 0) printf("decode_ms %.3f\n", elapsed / 1e3);
        checksum = sum;
    }
    printf("decode_checksum %lld\n", checksum);
    PQfinish(conn);
    return 0;
}

static int cmd_spawn(char **argv) {
    double start = now_us();
    pid_t pid = fork();
    if (pid < 0) die("fork", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "pgconnect-bench-c: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) die("wait4", strerror(errno));
    }
    double elapsed = now_us() - start;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("wall_us %.1f maxrss_kb %ld status %d\n", elapsed, usage.ru_maxrss, code);
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: pgconnect-bench-c connect N CONNINFO\n"
            "       pgconnect-bench-c select1 N CONNINFO\n"
            "       pgconnect-bench-c decode K ROWS CONNINFO\n"
            "       pgconnect-bench-c spawn -- CMD [ARG...]\n");
    exit(64);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argv[1];
    if (strcmp(mode, "connect") == 0 && argc == 4) return cmd_connect(parse_count(argv[2]), argv[3]);
    if (strcmp(mode, "select1") == 0 && argc == 4) return cmd_select1(parse_count(argv[2]), argv[3]);
    if (strcmp(mode, "decode") == 0 && argc == 5) return cmd_decode(parse_count(argv[2]), parse_count(argv[3]), argv[4]);
    if (strcmp(mode, "spawn") == 0 && argc >= 4 && strcmp(argv[2], "--") == 0) return cmd_spawn(argv + 3);
    usage();
    return 64;
}
