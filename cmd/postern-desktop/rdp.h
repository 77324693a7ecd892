//go:build linux && cgo

// The C side of postern-desktop: FreeRDP's callbacks, forwarded to Go
// (exported functions in rdp.go) with the engine's cgo.Handle. Everything
// else is Go.

#ifndef POSTERN_RDP_H
#define POSTERN_RDP_H

#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/client.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cliprdr.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/disp.h>
#include <freerdp/event.h>
#include <freerdp/codec/color.h>
#include <freerdp/error.h>
#include <winpr/synch.h>
#include <winpr/wlog.h>

typedef struct
{
	rdpContext context; /* first: FreeRDP allocates ContextSize and casts */
	uintptr_t handle;   /* the Go engine's cgo.Handle */
	HANDLE wake;        /* set by Go when input is queued for the loop */

	/* The channels' contexts, set and cleared by the channel events
	 * (FreeRDP's main thread for cliprdr, drdynvc's thread for disp) and
	 * used from the loop and the channels' threads: lock guards them
	 * and requested. */
	CRITICAL_SECTION lock;
	CliprdrClientContext* cliprdr; /* once the server's Monitor Ready came */
	DispClientContext* disp;       /* once the server's caps came */
	UINT32 requested;              /* the format asked of the desktop, 0 for none */
} pdContext;

rdpContext* pd_new(uintptr_t handle);
void pd_free(rdpContext* context);
void pd_log_to_stderr(void);
/* pd_wait waits up to timeout ms for FreeRDP's handles or the wake event
 * and lets FreeRDP handle what arrived: 1 to go on, 0 when the connection
 * ended. */
int pd_wait(rdpContext* context, DWORD timeout);
void pd_wake(rdpContext* context);
/* pd_clipboard_announce tells the desktop the viewer's clipboard has text
 * (a format list with CF_UNICODETEXT); 0 when the channel is not ready
 * (its Monitor Ready announces then). */
int pd_clipboard_announce(rdpContext* context);
/* pd_disp_send asks the desktop for a monitor layout of one monitor of
 * width x height; 0 when the Display Control channel is not open. */
int pd_disp_send(rdpContext* context, UINT32 width, UINT32 height, UINT32 scale,
                 UINT32 phys_width, UINT32 phys_height);

#endif
