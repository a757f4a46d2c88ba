/*
 * sqlite_lib.h — the one file that includes sqlite3.h. Two modules use
 * SQLite for different jobs and reach it through here: the embedded store
 * (src/store/sqlite_int.h) and the SQL module's scratch databases and
 * SQLite-file reader (src/sql/lite.c). Keeping one includer keeps the
 * library's API visible in one place for an upgrade (docs/dependencies.md).
 */
#ifndef MEMORI_SQLITE_LIB_H
#define MEMORI_SQLITE_LIB_H

#include <sqlite3.h>

#endif
