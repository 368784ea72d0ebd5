/* Shared by the RDB reader and writer only. */
#ifndef CAIRN_RDB_INT_H
#define CAIRN_RDB_INT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the listpack backlen of an entry of l bytes into b (5 bytes room);
 * returns its length. */
size_t cairn_rdb_lp_backlen(uint8_t *b, uint64_t l);

#endif
