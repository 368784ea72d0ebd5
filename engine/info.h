/* INFO and CLIENT LIST text (engine/info.c). Field names and section order
 * follow Redis 7.0. Threads: loop thread only. */
#ifndef CAIRN_INFO_H
#define CAIRN_INFO_H

#include "engine/buf.h"

typedef struct cairn_server cairn_server;

/* INFO text for a section ("default", "all", a section name). */
void cairn_info(cairn_server *srv, const char *section, cairn_buf *out);
/* The sections, in INFO's order: index by name (-1 if unknown), count, name,
 * and whether a section is part of the default INFO. */
int cairn_info_section_index(const char *name);
int cairn_info_section_count(void);
const char *cairn_info_section_name(int i);
int cairn_info_section_default(int i);

#endif
