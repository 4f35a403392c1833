#ifndef PGCONNECT_CLIBPQ_SHIM_H
#define PGCONNECT_CLIBPQ_SHIM_H
// libpq's public client API; the include path comes from pkg-config ("libpq").
#include <libpq-fe.h>
#endif
