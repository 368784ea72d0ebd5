/* MONITOR: clients that watch every command the server runs (Redis 7.0's
 * replicationFeedMonitors). Each executed command is sent to every monitor
 * as one status line "+<unix time.usec> [<db> <addr>] "arg" "arg"...",
 * after it ran (so SELECT shows the new db, and EXEC's queued commands come
 * before EXEC), out of band like pub/sub pushes: the line does not wait for
 * the WAL sync of a write it shows.
 *
 * Threads: loop thread only. */
#ifndef CAIRN_MONITOR_H
#define CAIRN_MONITOR_H

#include "engine/command.h"

/* Whether cmd (argv), just run by client c, is shown to monitors: not when
 * nobody monitors, not for admin commands or subcommands (CONFIG GET,
 * CLIENT LIST...), never for a command run without a client (replay). */
int cairn_monitor_wants(const cairn_server *srv, const cairn_client *c, const cairn_command *cmd, int argc,
                        const cairn_str *argv);
/* Sends the command line to every monitor. AUTH's arguments, HELLO's AUTH
 * pair and MIGRATE's AUTH/AUTH2 credentials are shown as "(redacted)". */
void cairn_monitor_feed(cairn_server *srv, cairn_client *c, int db, int argc, const cairn_str *argv);
/* Makes c a monitor (MONITOR) / removes it (RESET, close). */
void cairn_monitor_add(cairn_client *c);
void cairn_monitor_remove(cairn_client *c);

#endif
