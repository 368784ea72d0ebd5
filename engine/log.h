/* Logging in Redis's format: "pid:role dd Mon yyyy hh:mm:ss.mmm <level> msg". */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include "engine/config.h"

/* file NULL or "" = stderr. Returns -1 if the file cannot be opened. */
int cairn_log_open(const char *file, int level);
void cairn_log_set_level(int level);
void cairn_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cairn_log_close(void);

#define cairn_debug(...) cairn_log(CAIRN_LOG_DEBUG, __VA_ARGS__)
#define cairn_verbose(...) cairn_log(CAIRN_LOG_VERBOSE, __VA_ARGS__)
#define cairn_notice(...) cairn_log(CAIRN_LOG_NOTICE, __VA_ARGS__)
#define cairn_warning(...) cairn_log(CAIRN_LOG_WARNING, __VA_ARGS__)

#endif
