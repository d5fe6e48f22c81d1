/* Attacks on pid 1's mediation that need raw system calls (threads with
 * their own descriptor table, descriptor swaps, a Landlock layer of the
 * program's own). Built by tests/sandbox.rs with the system C compiler and
 * run inside srt; each mode prints HELD or ESCAPED (or a result line). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t unix_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strncpy(a->sun_path, path, sizeof a->sun_path - 1);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static int held(int escaped) {
    puts(escaped ? "ESCAPED" : "HELD");
    return 0;
}

/* A connected stream pair, one end bound to a protected name. */
static int bindpair(const char *name) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return perror("socketpair"), 1;
    struct sockaddr_un a;
    socklen_t l = unix_addr(&a, name);
    bind(sv[0], (struct sockaddr *)&a, l);
    return held(access(name, F_OK) == 0);
}

/* AF_UNIX SOCK_RAW is a datagram socket: sendto reaches any path. */
static int rawpair(const char *target) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_RAW, 0, sv)) return held(0);
    struct sockaddr_un a;
    socklen_t l = unix_addr(&a, target);
    return held(sendto(sv[0], "x", 1, 0, (struct sockaddr *)&a, l) == 1);
}

/* Another thread swaps descriptor 60 between an IP and a Unix socket while
 * this one connects descriptor 60 to a Unix path that is not allowed. */
static volatile int stop;
static int swap_ip, swap_unix;
static void *swapper(void *unused) {
    (void)unused;
    while (!stop) {
        dup2(swap_ip, 60);
        dup2(swap_unix, 60);
    }
    return 0;
}
static int duprace(const char *target) {
    swap_ip = socket(AF_INET, SOCK_STREAM, 0);
    swap_unix = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    socklen_t l = unix_addr(&a, target);
    pthread_t t;
    pthread_create(&t, 0, swapper, 0);
    int won = 0;
    for (int i = 0; i < 20000 && !won; i++) won = connect(60, (struct sockaddr *)&a, l) == 0;
    stop = 1;
    pthread_join(t, 0);
    return held(won);
}

/* A thread with a descriptor table of its own (no CLONE_FILES): its
 * descriptor 50 is a Unix socket, the process leader's is an IP socket. */
static const char *nf_target;
static volatile int nf_result = -2;
static int nofiles_thread(void *unused) {
    (void)unused;
    dup2(socket(AF_UNIX, SOCK_STREAM, 0), 50);
    struct sockaddr_un a;
    socklen_t l = unix_addr(&a, nf_target);
    nf_result = connect(50, (struct sockaddr *)&a, l);
    syscall(SYS_exit, 0);
    return 0;
}
static int nofiles(const char *target) {
    dup2(socket(AF_INET, SOCK_STREAM, 0), 50);
    nf_target = target;
    char *stack = malloc(1 << 20);
    int flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_FS | CLONE_SYSVSEM;
    if (clone(nofiles_thread, stack + (1 << 20), flags, 0) < 0) return perror("clone"), 1;
    for (int i = 0; i < 200 && nf_result == -2; i++) usleep(10000);
    return held(nf_result == 0);
}

/* A Landlock layer of the program's own (granting everything it handles
 * but execution), then a thread flips the path being created between an
 * allowed and a protected name. */
static volatile char flip_path[64] = "zzzzzzzzzz";
static void *flipper(void *target) {
    while (!stop) {
        strcpy((char *)flip_path, "zzzzzzzzzz");
        strcpy((char *)flip_path, target);
    }
    return 0;
}
static int nested(const char *target) {
    struct landlock_ruleset_attr ra = {.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE};
    int rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
    if (rs < 0 && errno == ENOSYS) {
        /* While pid 1 mediates, a program sees no Landlock at all. */
        puts("NO-LANDLOCK");
        return 0;
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0)) return perror("landlock_restrict_self"), 1;
    pthread_t t;
    pthread_create(&t, 0, flipper, (void *)target);
    int won = 0;
    for (int i = 0; i < 3000 && !won; i++) {
        int fd = open((const char *)flip_path, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) close(fd);
        won = access(target, F_OK) == 0;
    }
    stop = 1;
    pthread_join(t, 0);
    return held(won);
}

/* Mediated calls under a storm of (restarting) signals: each must take
 * effect once and report success, not fail on its own result. */
static void on_alarm(int sig) { (void)sig; }
static int eintr(void) {
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {.it_interval = {0, 50}, .it_value = {0, 50}};
    setitimer(ITIMER_REAL, &it, 0);
    int bad = 0;
    char a[32], b[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(a, sizeof a, "d%d", i);
        if (mkdir(a, 0755)) bad++;
        snprintf(a, sizeof a, "f%d", i);
        int fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) bad++; else close(fd);
        snprintf(b, sizeof b, "g%d", i);
        if (rename(a, b)) bad++;
    }
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, 0);
    printf("failed %d\n", bad);
    return 0;
}

/* A read lease held by one process while another opens the file with
 * O_CREAT: the opener waits for the lease break, but pid 1 must not, so an
 * unrelated mkdir stays quick. */
static int lease(void) {
    int fd = open("leased", O_CREAT | O_RDONLY, 0644);
    if (fd < 0) return perror("open"), 1;
    close(fd);
    int ready[2];
    if (pipe(ready)) return 1;
    if (fork() == 0) {
        int l = open("leased", O_RDONLY);
        if (fcntl(l, F_SETLEASE, F_RDLCK)) { perror("F_SETLEASE"); _exit(1); }
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return puts("NO-LEASE"), 0;
    if (fork() == 0) {
        open("leased", O_CREAT | O_WRONLY, 0644); /* waits for the lease break */
        _exit(0);
    }
    usleep(200000);
    alarm(5);
    int r = mkdir("unrelated", 0755);
    alarm(0);
    puts(r == 0 ? "HELD" : "ESCAPED");
    return 0;
}

/* The process leader has exited; another thread still connects (over IP). */
static void *after_leader(void *unused) {
    (void)unused;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0x7f000001)};
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf("connect after the leader exited: %s\n", r == 0 ? "ok" : strerror(errno));
    fflush(stdout);
    _exit(0);
}
static int leader(void) {
    pthread_t t;
    pthread_create(&t, 0, after_leader, 0);
    pthread_exit(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc < 2) return 2;
    const char *mode = argv[1], *arg = argc > 2 ? argv[2] : "";
    if (!strcmp(mode, "bindpair")) return bindpair(arg);
    if (!strcmp(mode, "rawpair")) return rawpair(arg);
    if (!strcmp(mode, "duprace")) return duprace(arg);
    if (!strcmp(mode, "nofiles")) return nofiles(arg);
    if (!strcmp(mode, "nested")) return nested(arg);
    if (!strcmp(mode, "leader")) return leader();
    if (!strcmp(mode, "eintr")) return eintr();
    if (!strcmp(mode, "lease")) return lease();
    return 2;
}
