#include <sqlite3.h>
#include <stdint.h>
// SQLITE_STATIC / SQLITE_TRANSIENT are macros Swift cannot import.
static inline sqlite3_destructor_type kd_sqlite_static(void) { return (sqlite3_destructor_type)0; }
static inline sqlite3_destructor_type kd_sqlite_transient(void) { return (sqlite3_destructor_type)-1; }
// sqlite3_config is variadic (not callable from Swift). Turns off SQLite's
// memory statistics, whose global mutex is taken on every allocation; must run
// before the first connection opens (then it returns SQLITE_MISUSE, harmlessly).
static inline int kd_sqlite_disable_memstatus(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }
