//go:build linux && cgo

#include "rdp.h"
#include "_cgo_export.h"

static BOOL pd_begin_paint(rdpContext* context)
{
	rdpGdi* gdi = context->gdi;
	gdi->primary->hdc->hwnd->invalid->null = TRUE;
	gdi->primary->hdc->hwnd->ninvalid = 0;
	return TRUE;
}

/* pd_end_paint hands the frame's changed rectangles to Go, which copies
 * them out of the GDI's buffer before FreeRDP draws the next one. */
static BOOL pd_end_paint(rdpContext* context)
{
	rdpGdi* gdi = context->gdi;
	HGDI_WND hwnd = gdi->primary->hdc->hwnd;
	if (hwnd->invalid->null || hwnd->ninvalid <= 0)
		return TRUE;
	goPaint(((pdContext*)context)->handle, gdi->primary_buffer, gdi->width, gdi->height,
	        gdi->stride, (GDI_RGN*)hwnd->cinvalid, hwnd->ninvalid);
	return TRUE;
}

static BOOL pd_desktop_resize(rdpContext* context)
{
	rdpSettings* settings = context->settings;
	rdpGdi* gdi = context->gdi;
	if (!gdi_resize(gdi, settings->DesktopWidth, settings->DesktopHeight))
		return FALSE;
	goResize(((pdContext*)context)->handle, gdi->primary_buffer, gdi->width, gdi->height,
	         gdi->stride);
	return TRUE;
}

static BOOL pd_pre_connect(freerdp* instance)
{
	rdpSettings* settings = instance->settings;
	settings->OsMajorType = OSMAJORTYPE_UNIX;
	settings->OsMinorType = OSMINORTYPE_UNSPECIFIED;
	return TRUE;
}

static BOOL pd_post_connect(freerdp* instance)
{
	rdpContext* context = instance->context;
	/* RGBX32 is R, G, B, X in memory: Go's image.RGBA once X is 0xFF. */
	if (!gdi_init(instance, PIXEL_FORMAT_RGBX32))
		return FALSE;
	context->update->BeginPaint = pd_begin_paint;
	context->update->EndPaint = pd_end_paint;
	context->update->DesktopResize = pd_desktop_resize;
	rdpGdi* gdi = context->gdi;
	goResize(((pdContext*)context)->handle, gdi->primary_buffer, gdi->width, gdi->height,
	         gdi->stride);
	return TRUE;
}

static void pd_post_disconnect(freerdp* instance)
{
	if (instance && instance->context)
		gdi_free(instance);
}

/* The certificate is accepted for this connection only (2) and never
 * stored: the tunnel to the node is authenticated end to end already;
 * its fingerprint is reported. */
static DWORD pd_verify_certificate(freerdp* instance, const char* host, UINT16 port,
                                   const char* common_name, const char* subject,
                                   const char* issuer, const char* fingerprint, DWORD flags)
{
	goCertificate(((pdContext*)instance->context)->handle, (char*)fingerprint, flags);
	return 2;
}

static DWORD pd_verify_changed_certificate(freerdp* instance, const char* host, UINT16 port,
                                           const char* common_name, const char* subject,
                                           const char* issuer, const char* fingerprint,
                                           const char* old_subject, const char* old_issuer,
                                           const char* old_fingerprint, DWORD flags)
{
	goCertificate(((pdContext*)instance->context)->handle, (char*)fingerprint, flags);
	return 2;
}

static int pd_logon_error_info(freerdp* instance, UINT32 data, UINT32 type)
{
	goLogonErrorInfo(((pdContext*)instance->context)->handle, data, type);
	return 1;
}

static BOOL pd_client_new(freerdp* instance, rdpContext* context)
{
	instance->PreConnect = pd_pre_connect;
	instance->PostConnect = pd_post_connect;
	instance->PostDisconnect = pd_post_disconnect;
	/* No Authenticate callback: NLA without credentials fails with
	 * FREERDP_ERROR_CONNECT_NO_OR_MISSING_CREDENTIALS instead of
	 * prompting on a terminal. */
	instance->Authenticate = NULL;
	instance->VerifyCertificateEx = pd_verify_certificate;
	instance->VerifyChangedCertificateEx = pd_verify_changed_certificate;
	instance->LogonErrorInfo = pd_logon_error_info;
	((pdContext*)context)->wake = CreateEvent(NULL, TRUE, FALSE, NULL);
	return ((pdContext*)context)->wake != NULL;
}

static void pd_client_free(freerdp* instance, rdpContext* context)
{
	pdContext* pd = (pdContext*)context;
	if (pd->wake)
		CloseHandle(pd->wake);
	pd->wake = NULL;
}

rdpContext* pd_new(uintptr_t handle)
{
	RDP_CLIENT_ENTRY_POINTS ep = { 0 };
	ep.Version = RDP_CLIENT_INTERFACE_VERSION;
	ep.Size = sizeof(RDP_CLIENT_ENTRY_POINTS_V1);
	ep.ContextSize = sizeof(pdContext);
	ep.ClientNew = pd_client_new;
	ep.ClientFree = pd_client_free;
	rdpContext* context = freerdp_client_context_new(&ep);
	if (context)
		((pdContext*)context)->handle = handle;
	return context;
}

void pd_free(rdpContext* context)
{
	freerdp_client_context_free(context);
}

/* FreeRDP logs to stdout by default; stdout is the viewer's. At WARN:
 * lower levels may dump protocol data that includes credentials. */
void pd_log_to_stderr(void)
{
	wLog* root = WLog_GetRoot();
	WLog_SetLogAppenderType(root, WLOG_APPENDER_CONSOLE);
	wLogAppender* appender = WLog_GetLogAppender(root);
	WLog_ConfigureAppender(appender, "outputstream", "stderr");
	WLog_SetLogLevel(root, WLOG_WARN);
	/* The desktop's certificate is accepted on purpose (the tunnel to the
	 * node is authenticated already; its fingerprint is recorded), so
	 * FreeRDP's name-mismatch banner at ERROR is noise in the server's
	 * log. A failed handshake is still reported, as the engine's error. */
	WLog_SetLogLevel(WLog_Get("com.freerdp.crypto"), WLOG_FATAL);
}

int pd_wait(rdpContext* context, DWORD timeout)
{
	HANDLE handles[MAXIMUM_WAIT_OBJECTS];
	pdContext* pd = (pdContext*)context;
	if (freerdp_shall_disconnect(context->instance))
		return 0;
	handles[0] = pd->wake;
	DWORD n = freerdp_get_event_handles(context, &handles[1], MAXIMUM_WAIT_OBJECTS - 1);
	if (n == 0)
		return 0;
	if (WaitForMultipleObjects(n + 1, handles, FALSE, timeout) == WAIT_FAILED)
		return 0;
	ResetEvent(pd->wake);
	if (!freerdp_check_event_handles(context))
		return 0;
	return !freerdp_shall_disconnect(context->instance);
}

void pd_wake(rdpContext* context)
{
	SetEvent(((pdContext*)context)->wake);
}
