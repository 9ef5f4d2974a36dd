#include <sqlite3.h>
#include <stdint.h>
// SQLITE_STATIC / SQLITE_TRANSIENT are macros Swift cannot import.
static inline sqlite3_destructor_type kd_sqlite_static(void) { return (sqlite3_destructor_type)0; }
static inline sqlite3_destructor_type kd_sqlite_transient(void) { return (sqlite3_destructor_type)-1; }
