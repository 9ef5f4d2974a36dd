// Debian's libxml2 headers pull in system ICU, which clashes with the ICU
// inside Foundation (PLATFORM.md): disable it before any libxml2 include.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <libxml/HTMLparser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <libxml/xmlerror.h>
// xmlFree is a global function pointer, rejected in Swift 6 mode.
static inline void kd_xml_free(void *p) { xmlFree(p); }
