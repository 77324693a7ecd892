//go:build linux && cgo

// The C side of postern-desktop: FreeRDP's callbacks, forwarded to Go
// (exported functions in rdp.go) with the engine's cgo.Handle. Everything
// else is Go.

#ifndef POSTERN_RDP_H
#define POSTERN_RDP_H

#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/client.h>
#include <freerdp/codec/color.h>
#include <freerdp/error.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

typedef struct
{
	rdpContext context; /* first: FreeRDP allocates ContextSize and casts */
	uintptr_t handle;   /* the Go engine's cgo.Handle */
	HANDLE wake;        /* set by Go when input is queued for the loop */
} pdContext;

rdpContext* pd_new(uintptr_t handle);
void pd_free(rdpContext* context);
void pd_log_to_stderr(void);
/* pd_wait waits up to timeout ms for FreeRDP's handles or the wake event
 * and lets FreeRDP handle what arrived: 1 to go on, 0 when the connection
 * ended. */
int pd_wait(rdpContext* context, DWORD timeout);
void pd_wake(rdpContext* context);

#endif
