/*
 * tcpkit's load client: one small C program, the same for every server, so the client
 * costs little CPU and is never what differs between two runs. Compiled by
 * scripts/bench.ts with `cc -O2`; Linux only (epoll, /proc).
 *
 *   load --mode pipelined|reqresp|pingpong|bulk|conns|restart --port P
 *        --framer raw|lines|length [--conns N] [--depth D] [--size S] [--warmup SEC]
 *        [--secs SEC] [--pid SERVER_PID[,PID...]] [--max-msgs N] [--concurrency K]
 *        [--rounds 1-4]
 *
 * Every connection sends a stream that is a pure function of (connection, offset): each
 * message is a template with the message number written into it, framed for the server
 * (raw bytes, a line ending in \n, or a 4-byte big-endian length and payload). Every byte
 * that comes back is compared with the byte sent at that offset, and at the end every
 * connection must have received exactly as many bytes as it sent.
 *
 * The measured window starts after `--warmup` seconds and lasts `--secs` seconds; then
 * sending stops and the replies in flight are drained. The server's CPU time in the
 * window is read from /proc/<pid>/stat (utime + stime, all threads); with several pids (a
 * primary and its workers), summed. The same for the server's first thread alone (from
 * /proc/<pid>/task/<pid>/stat: the thread where Deno, Bun and Node run JavaScript), as
 * `mainCpuUsPerMsg`: the rest is the runtime's other threads (the optimising compiler's,
 * the garbage collector's, Deno's I/O). Go's first thread is not where its goroutines run:
 * for Go that figure means nothing. The client's own CPU time in the window is given too.
 *
 * conns mode: opens --conns connections, at most --concurrency connecting or waiting for
 * their echo at once; each sends one message and waits for its echo; all stay open.
 * It prints "warm" after a warm-up round and "held" once all are open, and after each
 * waits for a line on stdin (a runner may measure the server's memory meanwhile:
 * scripts/bench.ts does so in a server process of its own, with one round); then
 * every connection echoes a second message, and all are closed. With `--rounds 2` it then
 * prints "closed" and waits for a line on stdin and at least 1.1 s since the close (see
 * run_conns), and measures a second round the same way against the same, now warm, server
 * process: --conns more connections, each echoing one message, held, echoing a second, and
 * closed. The first round's figures are the same with one round or more; the second's are
 * the "warm*" fields of the same JSON object. `--rounds 3` or `4` go on the same way, and
 * the last round's figures are the "steady*" fields: on V8 the functions run once per
 * connection reach the optimising tier (TurboFan) only in the second round, after about
 * 10 000 calls, so the second round still pays for their compiling.
 *
 * restart mode: request/response (one message in flight per connection) that survives
 * the server closing connections, for bench/workers.ts (see run_restart below).
 *
 * Output: one JSON object on stdout. Exit status 0 when every byte came back, else 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { RAW, LINES, LENGTH };
enum { PIPELINED, REQRESP, PINGPONG, BULK, CONNS, RESTART };
enum { CONNECTING, OPEN, CLOSED };

typedef struct {
  int fd;
  int state;
  uint64_t sent;  /* bytes of the stream generated (written or pending) */
  uint64_t wrote; /* bytes written to the socket */
  uint64_t recvd; /* bytes received and verified */
  double sent_at; /* when the last message was sent (depth 1: latency) */
} conn_t;

static int mode = PIPELINED, framer = RAW, port = 0, nconns = 50, depth = 32, size = 32;
static int concurrency = 100, server_pids[16], n_server_pids = 0, rounds = 1;
static double warmup = 0.5, secs = 2.0;
static uint64_t max_msgs = 200000000ULL;
static conn_t *conns;
static int ep;
static unsigned char *tmpl;  /* one message, without its number */
static unsigned char *wbuf, *rbuf, *ebuf;
static size_t wbuf_size;
static int ctr_at, ctr_len;  /* where the message number goes in a message */
static char error_text[256];
static int failed;
static int lenient; /* restart mode: a connection that ends or is refused is not a failure */
static double *lat;
static size_t nlat, cap_lat;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, long a, long b) {
  if (!failed) snprintf(error_text, sizeof error_text, fmt, a, b);
  failed = 1;
}

/* The client's own CPU time in seconds. */
static double self_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time in clock ticks (utime + stime) of one process, or with `main_thread` of its first
   thread only (where the JavaScript of Deno, Bun and Node runs), or -1. */
static long pid_ticks(int pid, int main_thread) {
  char path[64], buf[2048];
  if (main_thread) snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, pid);
  else snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* fields after the command: state(3) ppid pgrp session tty tpgid flags minflt cminflt
     majflt cmajflt utime(14) stime(15) */
  long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
    return -1;
  return ut + st;
}

/* Server CPU time in clock ticks, summed over the --pid list (with `main_thread`, over their
   first threads), or -1. */
static long server_ticks_of(int main_thread) {
  if (n_server_pids == 0) return -1;
  long sum = 0;
  for (int i = 0; i < n_server_pids; i++) {
    long t = pid_ticks(server_pids[i], main_thread);
    if (t < 0) return -1;
    sum += t;
  }
  return sum;
}

static long server_ticks(void) { return server_ticks_of(0); }
static long server_main_ticks(void) { return server_ticks_of(1); }

/* The message number as it appears in a message of connection c. */
static void put_counter(unsigned char *dst, int c, uint64_t i) {
  uint64_t v = i * 2654435761ULL + (uint64_t)c * 40503ULL;
  static const char hex[] = "0123456789abcdef";
  for (int k = 0; k < ctr_len; k++) dst[k] = hex[(v >> (4 * k)) & 15];
}

/* Writes stream bytes [from, to) of connection c into dst. */
static void gen(int c, uint64_t from, uint64_t to, unsigned char *dst) {
  unsigned char num[16];
  while (from < to) {
    uint64_t i = from / size;
    size_t k = from % size;
    size_t n = size - k;
    if (n > to - from) n = to - from;
    memcpy(dst, tmpl + k, n);
    /* overlay the part of the counter that falls in [k, k + n) */
    if ((int)k < ctr_at + ctr_len && (int)(k + n) > ctr_at) {
      put_counter(num, c, i);
      for (int j = 0; j < ctr_len; j++) {
        size_t at = ctr_at + j;
        if (at >= k && at < k + n) dst[at - k] = num[j];
      }
    }
    dst += n;
    from += n;
  }
}

static void build_template(void) {
  tmpl = malloc(size);
  for (int k = 0; k < size; k++) tmpl[k] = 'a' + (k * 7) % 26;
  ctr_len = 8;
  ctr_at = 0;
  if (framer == LINES) {
    tmpl[size - 1] = '\n';
  } else if (framer == LENGTH) {
    uint32_t len = size - 4;
    tmpl[0] = len >> 24, tmpl[1] = len >> 16, tmpl[2] = len >> 8, tmpl[3] = len;
    ctr_at = 4;
  }
  int room = size - ctr_at - (framer == LINES ? 1 : 0);
  if (ctr_len > room) ctr_len = room > 0 ? room : 0;
}

static void close_conn(conn_t *c) {
  if (c->state == CLOSED) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = CLOSED;
}

/* Writes what is pending; returns -1 when the connection broke. */
static int flush(int idx) {
  conn_t *c = &conns[idx];
  while (c->wrote < c->sent) {
    uint64_t n = c->sent - c->wrote;
    if (n > wbuf_size) n = wbuf_size;
    gen(idx, c->wrote, c->wrote + n, wbuf);
    ssize_t w = send(c->fd, wbuf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR) continue;
      if (!lenient) fail("write failed on connection %ld: errno %ld", idx, errno);
      close_conn(c);
      return -1;
    }
    c->wrote += w;
  }
  return 0;
}

/* Reads and verifies everything available; returns bytes read, -1 on a broken connection. */
static long drain_in(int idx) {
  conn_t *c = &conns[idx];
  long total = 0;
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, 256 * 1024, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return total;
      if (errno == EINTR) continue;
      if (!lenient) fail("read failed on connection %ld: errno %ld", idx, errno);
      close_conn(c);
      return -1;
    }
    if (r == 0) {
      if (!lenient) fail("connection %ld closed by the server after %ld bytes", idx, (long)c->recvd);
      close_conn(c);
      return -1;
    }
    if (c->recvd + r > c->sent) {
      fail("connection %ld received %ld bytes more than it sent", idx, (long)(c->recvd + r - c->sent));
      close_conn(c);
      return -1;
    }
    gen(idx, c->recvd, c->recvd + r, ebuf);
    if (memcmp(rbuf, ebuf, r) != 0) {
      long at = 0;
      while (rbuf[at] == ebuf[at]) at++;
      fail("connection %ld: wrong byte at stream offset %ld", idx, (long)(c->recvd + at));
      close_conn(c);
      return -1;
    }
    c->recvd += r;
    total += r;
  }
}

static void add_latency(double us) {
  if (nlat == cap_lat) return;
  lat[nlat++] = us;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile(double p) {
  if (nlat == 0) return 0;
  size_t i = (size_t)(p * (nlat - 1) + 0.5);
  return lat[i];
}

static int open_socket(int idx) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    fail("socket() failed for connection %ld: errno %ld", idx, errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  conn_t *c = &conns[idx];
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->state = CONNECTING;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    if (!lenient) fail("connect failed for connection %ld: errno %ld", idx, errno);
    close(fd);
    c->state = CLOSED;
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.u32 = idx};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

/* Completes a non-blocking connect; returns 1 when connected, 0 when not yet, -1 on error. */
static int check_connected(int idx) {
  conn_t *c = &conns[idx];
  if (c->state != CONNECTING) return c->state == OPEN;
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    if (!lenient) fail("connect failed for connection %ld: errno %ld", idx, err);
    close_conn(c);
    return -1;
  }
  c->state = OPEN;
  return 1;
}

static double client_cpu = -1; /* the client's CPU seconds in the window */
static long main_ticks = -1;  /* the servers' first threads' CPU ticks in the window */

static void print_json(double window, uint64_t msgs, uint64_t bytes, long ticks, int ok,
                       const char *extra) {
  long hz = sysconf(_SC_CLK_TCK);
  double cpu = ticks >= 0 ? (double)ticks / hz : -1;
  static const char *modes[] = {"pipelined", "reqresp", "pingpong", "bulk", "conns", "restart"};
  static const char *framers[] = {"raw", "lines", "length"};
  qsort(lat, nlat, sizeof *lat, cmp_double);
  printf("{\"mode\":\"%s\",\"framer\":\"%s\",\"conns\":%d,\"depth\":%d,\"size\":%d,"
         "\"secs\":%.4f,\"msgs\":%llu,\"bytes\":%llu,\"cpuTicks\":%ld,\"hz\":%ld,"
         "\"cpuSecs\":%.4f,\"msgsPerSec\":%.1f,\"mbPerSec\":%.3f,\"cpuUsPerMsg\":%.4f,"
         "\"mainCpuTicks\":%ld,\"mainCpuUsPerMsg\":%.4f,"
         "\"p50Us\":%.2f,\"p99Us\":%.2f,\"latencySamples\":%zu,\"clientCpuSecs\":%.4f%s,"
         "\"ok\":%s,\"error\":\"%s\"}\n",
         modes[mode], framers[framer], nconns, depth, size, window, (unsigned long long)msgs,
         (unsigned long long)bytes, ticks, hz, cpu, window > 0 ? msgs / window : 0,
         window > 0 ? bytes / window / 1e6 : 0,
         ticks >= 0 && msgs > 0 ? cpu * 1e6 / msgs : -1, main_ticks,
         main_ticks >= 0 && msgs > 0 ? (double)main_ticks / hz * 1e6 / msgs : -1,
         percentile(0.5), percentile(0.99), nlat,
         client_cpu, extra ? extra : "", ok ? "true" : "false", error_text);
  fflush(stdout);
}

/* ---------------------------------------------------------------- streaming modes */

static int run_stream(void) {
  for (int i = 0; i < nconns; i++) open_socket(i);
  if (failed) return 1;
  struct epoll_event evs[512];
  double t0 = now(), t_measure = t0 + warmup, t_end = t_measure + secs;
  double t_drain_end = 0;
  int measuring = 0, sending = 1;
  uint64_t done_at_start = 0, bytes_at_start = 0, total_done = 0, total_bytes = 0;
  long ticks0 = -1, ticks1 = -1, mticks0 = -1, mticks1 = -1;
  double window = 0, cpu0 = 0;
  uint64_t done_at_end = 0, bytes_at_end = 0;
  for (;;) {
    double t = now();
    if (!measuring && sending && t >= t_measure) {
      measuring = 1;
      ticks0 = server_ticks();
      mticks0 = server_main_ticks();
      cpu0 = self_cpu();
      done_at_start = total_done;
      bytes_at_start = total_bytes;
      nlat = 0;
      t_measure = t;
    }
    if (sending && (t >= t_end || total_done >= max_msgs)) {
      ticks1 = server_ticks();
      mticks1 = server_main_ticks();
      client_cpu = self_cpu() - cpu0;
      window = t - t_measure;
      done_at_end = total_done;
      bytes_at_end = total_bytes;
      sending = 0;
      measuring = 0;
      t_drain_end = t + 15.0;
    }
    if (!sending) {
      int pending = 0;
      for (int i = 0; i < nconns; i++)
        if (conns[i].state != CLOSED && conns[i].recvd < conns[i].sent) pending++;
      if (pending == 0 || failed) break;
      if (t >= t_drain_end) {
        fail("%ld connections still waiting for replies %ld s after the end", pending, 15);
        break;
      }
    }
    int n = epoll_wait(ep, evs, 512, 5);
    for (int e = 0; e < n; e++) {
      int idx = evs[e].data.u32;
      conn_t *c = &conns[idx];
      if (c->state == CLOSED) continue;
      if (check_connected(idx) <= 0) continue;
      uint64_t before = c->recvd;
      if (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (drain_in(idx) < 0) continue;
      }
      uint64_t done_before = before / size, done_now = c->recvd / size;
      if (done_now > done_before) {
        double tn = now();
        if (depth == 1 && measuring) add_latency((tn - c->sent_at) * 1e6);
        total_done += done_now - done_before;
      }
      total_bytes += c->recvd - before;
      if (sending) {
        uint64_t target = (done_now + depth) * (uint64_t)size;
        if (c->sent < target) {
          c->sent = target;
          if (depth == 1) c->sent_at = now();
        }
      }
      if (flush(idx) < 0) continue;
    }
    if (failed) break;
  }
  int ok = !failed;
  for (int i = 0; i < nconns; i++) {
    if (ok && conns[i].recvd != conns[i].sent) {
      fail("connection %ld: %ld bytes did not come back", i, (long)(conns[i].sent - conns[i].recvd));
      ok = 0;
    }
    close_conn(&conns[i]);
  }
  long ticks = ticks0 >= 0 && ticks1 >= 0 ? ticks1 - ticks0 : -1;
  main_ticks = mticks0 >= 0 && mticks1 >= 0 ? mticks1 - mticks0 : -1;
  print_json(window, done_at_end - done_at_start, bytes_at_end - bytes_at_start, ticks, ok, NULL);
  return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- conns mode */

static void wait_stdin(const char *what) {
  fprintf(stdout, "%s\n", what);
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) { /* runner gone: carry on */ }
}

/* Opens connections [from, to), each echoing message `round`, at most `concurrency` at once.
   Returns the number that completed. */
static int open_and_echo(int from, int to, double deadline) {
  struct epoll_event evs[512];
  int next = from, inflight = 0, done = 0, total = to - from;
  while (done < total && !failed) {
    while (inflight < concurrency && next < to) {
      if (open_socket(next) < 0) return done;
      conns[next].sent = size;
      next++;
      inflight++;
    }
    if (now() > deadline) {
      fail("%ld of %ld connections did not open and echo in time", total - done, total);
      break;
    }
    int n = epoll_wait(ep, evs, 512, 5);
    for (int e = 0; e < n; e++) {
      int idx = evs[e].data.u32;
      conn_t *c = &conns[idx];
      if (c->state == CLOSED) continue;
      int r = check_connected(idx);
      if (r < 0) return done;
      if (r == 0) continue;
      int was_done = c->recvd == c->sent;
      if (drain_in(idx) < 0) return done;
      if (flush(idx) < 0) return done;
      if (!was_done && c->recvd == c->sent) {
        done++;
        inflight--;
      }
    }
  }
  return done;
}

/* Every open connection in [0, n) sends one more message; waits for all echoes. */
static int echo_round(int n, double deadline) {
  struct epoll_event evs[512];
  int waiting = 0;
  for (int i = 0; i < n; i++) {
    conn_t *c = &conns[i];
    if (c->state != OPEN) continue;
    c->sent += size;
    if (flush(i) < 0) return -1;
    waiting++;
  }
  while (waiting > 0 && !failed) {
    if (now() > deadline) {
      fail("%ld of %ld held connections did not echo in time", waiting, n);
      return -1;
    }
    int k = epoll_wait(ep, evs, 512, 5);
    for (int e = 0; e < k; e++) {
      int idx = evs[e].data.u32;
      conn_t *c = &conns[idx];
      if (c->state != OPEN) continue;
      int was_done = c->recvd == c->sent;
      if (drain_in(idx) < 0) return -1;
      if (flush(idx) < 0) return -1;
      if (!was_done && c->recvd == c->sent) waiting--;
    }
  }
  return failed ? -1 : 0;
}

static int run_conns(void) {
  int warm = nconns < 500 ? nconns / 2 : 500;
  /* warm-up: a round of connections opened, echoed and closed */
  open_and_echo(0, warm, now() + 30);
  for (int i = 0; i < warm; i++) close_conn(&conns[i]);
  if (failed) {
    print_json(0, 0, 0, -1, 0, NULL);
    return 1;
  }
  wait_stdin("warm");
  long ticks0 = server_ticks(), mticks0 = server_main_ticks();
  double t0 = now(), cpu0 = self_cpu();
  int done = open_and_echo(0, nconns, t0 + 60);
  double t1 = now();
  long ticks1 = server_ticks(), mticks1 = server_main_ticks();
  client_cpu = self_cpu() - cpu0;
  int held = 0;
  for (int i = 0; i < nconns; i++) held += conns[i].state == OPEN;
  wait_stdin("held");
  int round_ok = !failed && echo_round(nconns, now() + 30) == 0;
  int held_after = 0;
  for (int i = 0; i < nconns; i++) held_after += conns[i].state == OPEN;
  for (int i = 0; i < nconns; i++) close_conn(&conns[i]);
  double cold_client_cpu = client_cpu;
  char extra[1024];
  int len = snprintf(extra, sizeof extra,
                     ",\"opened\":%d,\"held\":%d,\"heldAfterSecondEcho\":%d,\"connsPerSec\":%.1f",
                     done, held, round_ok ? held_after : 0, done / (t1 - t0));
  int warm_ok = 1;
  /* The later rounds: the same server process, the round before's connections closed. The
     second is reported as "warm*"; with more, the last as "steady*". */
  for (int round = 2; round <= rounds && !failed && warm_ok; round++) {
    double closed_at = now();
    wait_stdin("closed");
    /* The first round's connections wait in TIME_WAIT here, on the same 4-tuples the second
       round's connect() would pick. On loopback Linux lets a connect reuse one
       (net.ipv4.tcp_tw_reuse) only once the clock's second has moved past its last packet;
       before that, each connect walks the port range past them and the client's CPU, not
       the server, sets the pace (2 to 3 times slower, whichever server). */
    while (now() < closed_at + 1.1) usleep(10000);
    long wticks0 = server_ticks(), wmticks0 = server_main_ticks();
    double w0 = now(), wcpu0 = self_cpu();
    int wdone = open_and_echo(0, nconns, w0 + 60);
    double w1 = now();
    long wticks1 = server_ticks(), wmticks1 = server_main_ticks();
    double wclient = self_cpu() - wcpu0;
    int wround_ok = !failed && echo_round(nconns, now() + 30) == 0;
    int wheld_after = 0;
    for (int i = 0; i < nconns; i++) wheld_after += conns[i].state == OPEN;
    for (int i = 0; i < nconns; i++) close_conn(&conns[i]);
    long wticks = wticks0 >= 0 && wticks1 >= 0 ? wticks1 - wticks0 : -1;
    double wcpu = wticks >= 0 ? (double)wticks / sysconf(_SC_CLK_TCK) : -1;
    long wmticks = wmticks0 >= 0 && wmticks1 >= 0 ? wmticks1 - wmticks0 : -1;
    double wmcpu = wmticks >= 0 ? (double)wmticks / sysconf(_SC_CLK_TCK) : -1;
    const char *p = round == 2 ? "warm" : "steady";
    if (round == 2 || round == rounds) {
      len += snprintf(extra + len, sizeof extra - len,
                      ",\"%sSecs\":%.4f,\"%sOpened\":%d,\"%sHeldAfterSecondEcho\":%d,"
                      "\"%sConnsPerSec\":%.1f,\"%sCpuSecs\":%.4f,\"%sCpuUsPerConn\":%.4f,"
                      "\"%sMainCpuUsPerConn\":%.4f,\"%sClientCpuSecs\":%.4f",
                      p, w1 - w0, p, wdone, p, wround_ok ? wheld_after : 0, p, wdone / (w1 - w0),
                      p, wcpu, p, wcpu >= 0 && wdone > 0 ? wcpu * 1e6 / wdone : -1, p,
                      wmcpu >= 0 && wdone > 0 ? wmcpu * 1e6 / wdone : -1, p, wclient);
    }
    warm_ok = wdone == nconns && wround_ok && wheld_after == nconns;
  }
  client_cpu = cold_client_cpu;
  long ticks = ticks0 >= 0 && ticks1 >= 0 ? ticks1 - ticks0 : -1;
  main_ticks = mticks0 >= 0 && mticks1 >= 0 ? mticks1 - mticks0 : -1;
  int ok = !failed && done == nconns && held_after == nconns && warm_ok;
  print_json(t1 - t0, done, (uint64_t)done * size, ticks, ok, extra);
  return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- restart mode */

/*
 * Every connection keeps one message in flight, for at most --warmup + --secs seconds, and
 * survives the server closing it (a draining worker): a connection that ends (end of
 * stream, reset, refused connect) is opened again at once (a refused one after 1 ms), and
 * a request whose whole reply had not come is sent again on the new connection
 * ("resent"), its latency still counted from its first send. Every reply byte is checked
 * as in the other modes. Lines on stdin: "mark" notes the time (at most 8 marks), "stop"
 * ends the run. Each request completed after the warm-up is kept (time, latency; at most
 * 4 M); the output gives the latency percentiles between consecutive marks and a timeline
 * of 100 ms buckets (count, p99, max).
 */
static float *done_t, *done_us;
static size_t ndone, cap_done = 4u << 20;
static double marks[8];
static int nmarks;

/* Latency figures of the requests completed in [from, to); t0: what done_t counts from. */
static void phase_json(double from, double to, double t0, double t_base, int last) {
  nlat = 0;
  double mx = 0;
  for (size_t i = 0; i < ndone; i++) {
    double t = t0 + done_t[i];
    if (t >= from && t < to) {
      add_latency(done_us[i]);
      if (done_us[i] > mx) mx = done_us[i];
    }
  }
  qsort(lat, nlat, sizeof *lat, cmp_double);
  printf("{\"fromSec\":%.3f,\"toSec\":%.3f,\"count\":%zu,\"p50Us\":%.1f,\"p99Us\":%.1f,"
         "\"p999Us\":%.1f,\"maxUs\":%.1f}%s", from - t_base, to - t_base, nlat, percentile(0.5),
         percentile(0.99), percentile(0.999), mx, last ? "" : ",");
}

static int run_restart(void) {
  lenient = 1;
  done_t = malloc(cap_done * sizeof *done_t);
  done_us = malloc(cap_done * sizeof *done_us);
  double *retry_at = calloc(nconns, sizeof *retry_at);
  uint64_t reconnects = 0, resent = 0, connect_errors = 0, total = 0;
  double t0 = now(), t_measure = t0 + warmup, t_end = t_measure + secs, t_stop = 0;
  double t_drain_end = 0, cpu0 = self_cpu();
  for (int i = 0; i < nconns; i++) {
    open_socket(i);
    conns[i].sent = size;
    conns[i].sent_at = t0;
  }
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in_ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in_ev);
  char cmd[256];
  size_t ncmd = 0;
  int sending = 1, stop = 0;
  struct epoll_event evs[512];
  while (!failed) {
    double t = now();
    if (sending && (t >= t_end || stop)) {
      sending = 0;
      t_stop = t;
      t_drain_end = t + 15.0;
    }
    int pending = 0, retrying = 0;
    for (int i = 0; i < nconns; i++) {
      conn_t *c = &conns[i];
      int outstanding = c->recvd < c->sent;
      pending += outstanding;
      if (c->state != CLOSED || !(sending || outstanding)) continue;
      if (retry_at[i] > t) {
        retrying = 1;
        continue;
      }
      /* reopen: the stream goes on from the last whole reply, on a new connection */
      uint64_t base = c->recvd - c->recvd % size;
      double sent_at = c->sent_at;
      if (open_socket(i) < 0) {
        connect_errors++;
        retry_at[i] = t + 0.001;
        retrying = 1;
      }
      if (failed) break;
      c->recvd = c->wrote = base;
      c->sent = base + size;
      c->sent_at = outstanding ? sent_at : t;
    }
    if (!sending && (pending == 0 || t >= t_drain_end)) {
      if (pending) fail("%ld requests without a reply %ld s after the end", pending, 15);
      break;
    }
    int n = epoll_wait(ep, evs, 512, retrying ? 1 : 5);
    for (int e = 0; e < n && !failed; e++) {
      uint32_t idx = evs[e].data.u32;
      if (idx == UINT32_MAX) { /* a command from the runner */
        ssize_t r = read(0, cmd + ncmd, sizeof cmd - 1 - ncmd);
        if (r == 0) { /* runner gone */
          stop = 1;
          epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        }
        if (r <= 0) continue;
        ncmd += r;
        char *nl;
        while ((nl = memchr(cmd, '\n', ncmd))) {
          *nl = 0;
          if (!strcmp(cmd, "mark") && nmarks < 8) marks[nmarks++] = now();
          if (!strcmp(cmd, "stop")) stop = 1;
          ncmd -= nl + 1 - cmd;
          memmove(cmd, nl + 1, ncmd);
        }
        if (ncmd == sizeof cmd - 1) ncmd = 0;
        continue;
      }
      conn_t *c = &conns[idx];
      if (c->state == CLOSED) continue;
      int r = check_connected(idx);
      if (r < 0) {
        connect_errors++;
        retry_at[idx] = now() + 0.001;
        continue;
      }
      if (r == 0) continue;
      uint64_t before = c->recvd;
      if (evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) drain_in(idx);
      if (failed) break;
      if (before < c->sent && c->recvd == c->sent) { /* a whole reply */
        double tn = now();
        if (tn >= t_measure && ndone < cap_done) {
          done_t[ndone] = (float)(tn - t0);
          done_us[ndone++] = (float)((tn - c->sent_at) * 1e6);
        }
        total++;
        if (sending) {
          c->sent += size;
          c->sent_at = tn;
        }
      }
      if (c->state != CLOSED) flush(idx);
      if (c->state == CLOSED) { /* ended by the server: reopened at the top of the loop */
        reconnects++;
        resent += c->recvd < c->sent;
        retry_at[idx] = 0;
      }
    }
  }
  double client = self_cpu() - cpu0;
  for (int i = 0; i < nconns; i++) close_conn(&conns[i]);
  if (t_stop == 0) t_stop = now();
  printf("{\"mode\":\"restart\",\"framer\":\"%s\",\"conns\":%d,\"size\":%d,\"secs\":%.3f,"
         "\"msgs\":%llu,\"kept\":%zu,\"reconnects\":%llu,\"resent\":%llu,\"connectErrors\":%llu,"
         "\"clientCpuSecs\":%.4f,\"marksSec\":[",
         framer == RAW ? "raw" : framer == LINES ? "lines" : "length", nconns, size,
         t_stop - t_measure, (unsigned long long)total, ndone, (unsigned long long)reconnects,
         (unsigned long long)resent, (unsigned long long)connect_errors, client);
  for (int i = 0; i < nmarks; i++) printf("%s%.3f", i ? "," : "", marks[i] - t_measure);
  printf("],\"phases\":[");
  double bounds[10];
  int nb = 0;
  bounds[nb++] = t_measure;
  for (int i = 0; i < nmarks; i++) bounds[nb++] = marks[i];
  bounds[nb++] = t_stop + 1e-9;
  for (int i = 0; i + 1 < nb; i++) phase_json(bounds[i], bounds[i + 1], t0, t_measure, i + 2 == nb);
  printf("],\"timeline\":{\"bucketMs\":100,\"buckets\":[");
  int nbuckets = (int)((t_stop - t_measure) / 0.1) + 1;
  for (int b = 0; b < nbuckets; b++) {
    double from = t_measure + b * 0.1;
    nlat = 0;
    double mx = 0;
    for (size_t i = 0; i < ndone; i++) {
      double t = t0 + done_t[i];
      if (t >= from && t < from + 0.1) {
        add_latency(done_us[i]);
        if (done_us[i] > mx) mx = done_us[i];
      }
    }
    qsort(lat, nlat, sizeof *lat, cmp_double);
    printf("%s[%zu,%.0f,%.0f]", b ? "," : "", nlat, percentile(0.99), mx);
  }
  printf("]},\"ok\":%s,\"error\":\"%s\"}\n", failed ? "false" : "true", error_text);
  fflush(stdout);
  return failed ? 1 : 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--mode")) {
      mode = !strcmp(v, "pipelined") ? PIPELINED
             : !strcmp(v, "reqresp") ? REQRESP
             : !strcmp(v, "pingpong") ? PINGPONG
             : !strcmp(v, "bulk")     ? BULK
             : !strcmp(v, "conns")    ? CONNS
             : !strcmp(v, "restart")  ? RESTART
                                      : -1;
      if (mode < 0) { fprintf(stderr, "unknown mode %s\n", v); return 2; }
    } else if (!strcmp(k, "--framer")) {
      framer = !strcmp(v, "raw") ? RAW : !strcmp(v, "lines") ? LINES : !strcmp(v, "length") ? LENGTH : -1;
      if (framer < 0) { fprintf(stderr, "unknown framer %s\n", v); return 2; }
    } else if (!strcmp(k, "--port")) port = atoi(v);
    else if (!strcmp(k, "--conns")) nconns = atoi(v);
    else if (!strcmp(k, "--depth")) depth = atoi(v);
    else if (!strcmp(k, "--size")) size = atoi(v);
    else if (!strcmp(k, "--warmup")) warmup = atof(v);
    else if (!strcmp(k, "--secs")) secs = atof(v);
    else if (!strcmp(k, "--pid")) {
      for (const char *q = v; *q && n_server_pids < 16; q = strchr(q, ',') ? strchr(q, ',') + 1 : "")
        server_pids[n_server_pids++] = atoi(q);
    }
    else if (!strcmp(k, "--max-msgs")) max_msgs = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--concurrency")) concurrency = atoi(v);
    else if (!strcmp(k, "--rounds")) rounds = atoi(v);
    else { fprintf(stderr, "unknown flag %s\n", k); return 2; }
  }
  if (port <= 0 || nconns < 1 || depth < 1 || size < 8 || (framer == LENGTH && size < 5) ||
      rounds < 1 || rounds > 4) {
    fprintf(stderr, "bad arguments: need --port, and conns, depth >= 1, size >= 8, rounds 1 to 4\n");
    return 2;
  }
  /* Whatever happens, this process ends: a hard bound on every run. */
  alarm((unsigned)(warmup + secs) + 120 + (rounds - 1) * 90);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  build_template();
  conns = calloc(nconns, sizeof *conns);
  wbuf_size = (size_t)depth * size;
  if (wbuf_size < 64 * 1024) wbuf_size = 64 * 1024;
  if (wbuf_size > 4 << 20) wbuf_size = 4 << 20;
  wbuf = malloc(wbuf_size);
  rbuf = malloc(256 * 1024);
  ebuf = malloc(256 * 1024);
  cap_lat = 2000000;
  lat = malloc(cap_lat * sizeof *lat);
  ep = epoll_create1(0);
  return mode == CONNS ? run_conns() : mode == RESTART ? run_restart() : run_stream();
}
