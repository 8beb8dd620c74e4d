#ifndef LOFT_STORE_BACKUP_H
#define LOFT_STORE_BACKUP_H
/*
 * Backup and restore of the whole database as one consistent file.
 */
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* --- backup ------------------------------------------------------------- */

/* Writes a consistent copy of the database to dest_path (which must not
 * exist) while other processes keep writing.  Returns 0 or -1. */
int store_backup(struct store *st, const char *dest_path);
/* Checks src_path (integrity_check, a schema version this program knows)
 * and replaces the database at db_path with it through the online backup
 * API, so processes that have it open see the restored content.  Returns 0
 * or -1 with a reason in err. */
int store_restore(const char *src_path, const char *db_path, char *err, size_t errlen);

#endif
