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

/* Clipboard (MS-RDPECLIP, FreeRDP's cliprdr addin). Its callbacks run on
 * the channel's own thread; the text itself lives in Go. */

static UINT pd_cliprdr_send_format_list(CliprdrClientContext* cliprdr, BOOL text)
{
	CLIPRDR_FORMAT format = { CF_UNICODETEXT, NULL };
	CLIPRDR_FORMAT_LIST list = { 0 };
	list.msgType = CB_FORMAT_LIST;
	list.numFormats = text ? 1 : 0;
	list.formats = text ? &format : NULL;
	return cliprdr->ClientFormatList(cliprdr, &list);
}

/* The server is ready: the client's capabilities, then its format list
 * (the viewer's text, if it gave some before the channel was up). */
static UINT pd_cliprdr_monitor_ready(CliprdrClientContext* cliprdr,
                                     const CLIPRDR_MONITOR_READY* ready)
{
	pdContext* pd = (pdContext*)cliprdr->custom;
	CLIPRDR_GENERAL_CAPABILITY_SET general = { 0 };
	CLIPRDR_CAPABILITIES caps = { 0 };
	general.capabilitySetType = CB_CAPSTYPE_GENERAL;
	general.capabilitySetLength = CB_CAPSTYPE_GENERAL_LEN;
	general.version = CB_CAPS_VERSION_2;
	general.generalFlags = CB_USE_LONG_FORMAT_NAMES;
	caps.cCapabilitiesSets = 1;
	caps.capabilitySets = (CLIPRDR_CAPABILITY_SET*)&general;
	UINT rc = cliprdr->ClientCapabilities(cliprdr, &caps);
	if (rc != CHANNEL_RC_OK)
		return rc;
	/* Under the lock: an announce from the loop goes either here (the
	 * text is set) or after (cliprdr is set), never before the caps. */
	EnterCriticalSection(&pd->lock);
	pd->cliprdr = cliprdr;
	rc = pd_cliprdr_send_format_list(cliprdr, goClipboardHasText(pd->handle) != 0);
	LeaveCriticalSection(&pd->lock);
	return rc;
}

static UINT pd_cliprdr_server_capabilities(CliprdrClientContext* cliprdr,
                                           const CLIPRDR_CAPABILITIES* caps)
{
	/* The addin reads the general flags (long format names) itself. */
	return CHANNEL_RC_OK;
}

/* The desktop's clipboard changed: acknowledge, and ask for its text
 * when it has some (Unicode preferred). */
static UINT pd_cliprdr_server_format_list(CliprdrClientContext* cliprdr,
                                          const CLIPRDR_FORMAT_LIST* list)
{
	pdContext* pd = (pdContext*)cliprdr->custom;
	CLIPRDR_FORMAT_LIST_RESPONSE response = { 0 };
	CLIPRDR_FORMAT_DATA_REQUEST request = { 0 };
	UINT32 format = 0;
	response.msgType = CB_FORMAT_LIST_RESPONSE;
	response.msgFlags = CB_RESPONSE_OK;
	UINT rc = cliprdr->ClientFormatListResponse(cliprdr, &response);
	if (rc != CHANNEL_RC_OK)
		return rc;
	for (UINT32 i = 0; list->formats && i < list->numFormats; i++)
	{
		if (list->formats[i].formatId == CF_UNICODETEXT)
		{
			format = CF_UNICODETEXT;
			break;
		}
		if (list->formats[i].formatId == CF_TEXT)
			format = CF_TEXT;
	}
	if (format == 0)
		return CHANNEL_RC_OK;
	EnterCriticalSection(&pd->lock);
	pd->requested = format;
	LeaveCriticalSection(&pd->lock);
	request.msgType = CB_FORMAT_DATA_REQUEST;
	request.requestedFormatId = format;
	return cliprdr->ClientFormatDataRequest(cliprdr, &request);
}

static UINT pd_cliprdr_server_format_list_response(CliprdrClientContext* cliprdr,
                                                   const CLIPRDR_FORMAT_LIST_RESPONSE* response)
{
	return CHANNEL_RC_OK;
}

/* The desktop's text, asked for above: to Go, which bounds and decodes
 * it (the addin checked dataLen against what arrived). */
static UINT pd_cliprdr_server_format_data_response(CliprdrClientContext* cliprdr,
                                                   const CLIPRDR_FORMAT_DATA_RESPONSE* response)
{
	pdContext* pd = (pdContext*)cliprdr->custom;
	EnterCriticalSection(&pd->lock);
	UINT32 format = pd->requested;
	pd->requested = 0;
	LeaveCriticalSection(&pd->lock);
	if (format == 0 || (response->msgFlags & CB_RESPONSE_OK) == 0 ||
	    (response->dataLen > 0 && !response->requestedFormatData))
		return CHANNEL_RC_OK;
	goClipboardReceived(pd->handle, format, (BYTE*)response->requestedFormatData,
	                    response->dataLen);
	return CHANNEL_RC_OK;
}

/* The desktop pastes the viewer's text: it is sent as UTF-16LE; any other
 * format (none is announced) fails. */
static UINT pd_cliprdr_server_format_data_request(CliprdrClientContext* cliprdr,
                                                  const CLIPRDR_FORMAT_DATA_REQUEST* request)
{
	pdContext* pd = (pdContext*)cliprdr->custom;
	CLIPRDR_FORMAT_DATA_RESPONSE response = { 0 };
	UINT32 n = 0;
	BYTE* data = NULL;
	if (request->requestedFormatId == CF_UNICODETEXT)
		data = goClipboardData(pd->handle, &n);
	response.msgType = CB_FORMAT_DATA_RESPONSE;
	response.msgFlags = data ? CB_RESPONSE_OK : CB_RESPONSE_FAIL;
	response.dataLen = data ? n : 0;
	response.requestedFormatData = data;
	UINT rc = cliprdr->ClientFormatDataResponse(cliprdr, &response); /* copies */
	free(data);
	return rc;
}

int pd_clipboard_announce(rdpContext* context)
{
	pdContext* pd = (pdContext*)context;
	int ok = 0;
	EnterCriticalSection(&pd->lock);
	if (pd->cliprdr)
		ok = pd_cliprdr_send_format_list(pd->cliprdr, TRUE) == CHANNEL_RC_OK;
	LeaveCriticalSection(&pd->lock);
	return ok;
}

/* Display Control (MS-RDPEDISP, FreeRDP's disp addin on drdynvc): usable
 * once the server sent its caps (on drdynvc's thread). */
static UINT pd_disp_caps(DispClientContext* disp, UINT32 max_monitors, UINT32 factor_a,
                         UINT32 factor_b)
{
	pdContext* pd = (pdContext*)disp->custom;
	EnterCriticalSection(&pd->lock);
	pd->disp = disp;
	LeaveCriticalSection(&pd->lock);
	goDisplayControlCaps(pd->handle, max_monitors, factor_a, factor_b);
	return CHANNEL_RC_OK;
}

int pd_disp_send(rdpContext* context, UINT32 width, UINT32 height, UINT32 scale,
                 UINT32 phys_width, UINT32 phys_height)
{
	pdContext* pd = (pdContext*)context;
	DISPLAY_CONTROL_MONITOR_LAYOUT layout = { 0 };
	int ok = 0;
	layout.Flags = DISPLAY_CONTROL_MONITOR_PRIMARY;
	layout.Width = width;
	layout.Height = height;
	layout.PhysicalWidth = phys_width;
	layout.PhysicalHeight = phys_height;
	layout.Orientation = ORIENTATION_LANDSCAPE;
	layout.DesktopScaleFactor = scale;
	layout.DeviceScaleFactor = 100;
	EnterCriticalSection(&pd->lock);
	if (pd->disp && pd->disp->SendMonitorLayout)
		ok = pd->disp->SendMonitorLayout(pd->disp, 1, &layout) == CHANNEL_RC_OK;
	LeaveCriticalSection(&pd->lock);
	return ok;
}

static void pd_channel_connected(void* ctx, ChannelConnectedEventArgs* e)
{
	pdContext* pd = (pdContext*)ctx;
	if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0)
	{
		CliprdrClientContext* cliprdr = (CliprdrClientContext*)e->pInterface;
		cliprdr->custom = pd;
		cliprdr->MonitorReady = pd_cliprdr_monitor_ready;
		cliprdr->ServerCapabilities = pd_cliprdr_server_capabilities;
		cliprdr->ServerFormatList = pd_cliprdr_server_format_list;
		cliprdr->ServerFormatListResponse = pd_cliprdr_server_format_list_response;
		cliprdr->ServerFormatDataRequest = pd_cliprdr_server_format_data_request;
		cliprdr->ServerFormatDataResponse = pd_cliprdr_server_format_data_response;
	}
	else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0)
	{
		DispClientContext* disp = (DispClientContext*)e->pInterface;
		disp->custom = pd;
		disp->DisplayControlCaps = pd_disp_caps;
	}
}

static void pd_channel_disconnected(void* ctx, ChannelDisconnectedEventArgs* e)
{
	pdContext* pd = (pdContext*)ctx;
	EnterCriticalSection(&pd->lock);
	if (strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0)
		pd->cliprdr = NULL;
	else if (strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0)
		pd->disp = NULL;
	LeaveCriticalSection(&pd->lock);
}

static BOOL pd_pre_connect(freerdp* instance)
{
	rdpSettings* settings = instance->settings;
	settings->OsMajorType = OSMAJORTYPE_UNIX;
	settings->OsMinorType = OSMINORTYPE_UNSPECIFIED;
	PubSub_SubscribeChannelConnected(instance->context->pubSub, pd_channel_connected);
	PubSub_SubscribeChannelDisconnected(instance->context->pubSub, pd_channel_disconnected);
	/* cliprdr (RedirectClipboard), drdynvc with disp
	 * (SupportDisplayControl), built into libfreerdp-client. */
	return freerdp_client_load_addins(instance->context->channels, settings);
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
	if (!InitializeCriticalSectionAndSpinCount(&((pdContext*)context)->lock, 0))
		return FALSE;
	((pdContext*)context)->wake = CreateEvent(NULL, TRUE, FALSE, NULL);
	return ((pdContext*)context)->wake != NULL;
}

static void pd_client_free(freerdp* instance, rdpContext* context)
{
	pdContext* pd = (pdContext*)context;
	if (pd->wake)
		CloseHandle(pd->wake);
	pd->wake = NULL;
	DeleteCriticalSection(&pd->lock);
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
