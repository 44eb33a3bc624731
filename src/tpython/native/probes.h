/* USDT probe `tpython:audit(event, action, rule)`, fired for every decided event.
 *
 * Built with <sys/sdt.h> (Debian: systemtap-sdt-dev) when the header is present,
 * otherwise compiled out (TPYTHON_PROBES is then 0 and `tpython info` says so).
 * The probe has a semaphore: bpftrace and SystemTap raise it while attached, so an
 * unwatched process pays one load and branch per event.
 */
#ifndef TPYTHON_PROBES_H
#define TPYTHON_PROBES_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define TPYTHON_PROBES 1
#endif
#endif

#ifdef TPYTHON_PROBES
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
extern unsigned short tpython_audit_semaphore;
#define TPYTHON_AUDIT_ENABLED() __builtin_expect(tpython_audit_semaphore, 0)
#define TPYTHON_AUDIT(event, action, rule) STAP_PROBE3(tpython, audit, event, action, rule)
#else
#define TPYTHON_PROBES 0
#define TPYTHON_AUDIT_ENABLED() 0
#define TPYTHON_AUDIT(event, action, rule) ((void)0)
#endif

#endif
