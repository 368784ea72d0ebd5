#include "engine/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static FILE *log_fp;
static int log_level = CAIRN_LOG_NOTICE;

int cairn_log_open(const char *file, int level) {
  log_level = level;
  if (log_fp && log_fp != stderr) fclose(log_fp);
  log_fp = NULL;
  if (file && *file) {
    log_fp = fopen(file, "a");
    if (!log_fp) return -1;
  }
  return 0;
}

void cairn_log_set_level(int level) { log_level = level; }

void cairn_log_close(void) {
  if (log_fp && log_fp != stderr) fclose(log_fp);
  log_fp = NULL;
}

void cairn_log(int level, const char *fmt, ...) {
  if (level < log_level) return;
  FILE *fp = log_fp ? log_fp : stderr;
  static const char marks[] = ".-*#";
  char msg[2048], ts[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  time_t t = tv.tv_sec;
  localtime_r(&t, &tm);
  size_t n = strftime(ts, sizeof(ts), "%d %b %Y %H:%M:%S.", &tm);
  snprintf(ts + n, sizeof(ts) - n, "%03d", (int)(tv.tv_usec / 1000));
  fprintf(fp, "%d:M %s %c %s\n", (int)getpid(), ts, marks[level & 3], msg);
  fflush(fp);
}
