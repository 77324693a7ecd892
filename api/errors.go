package api

// Error codes: the Code of an Error body. Clients branch on them, so they
// are part of the API: never reworded, only added to. Where Session
// Manager, CloudWatch Logs or KMS have a code for the same failure,
// Postern answers with theirs (the ...Exception codes), so that scripts
// written against them keep working.
const (
	// Requests that are malformed or invalid.
	CodeBadRequest                = "BadRequest"
	CodeValidationError           = "ValidationError"
	CodeValidationException       = "ValidationException"
	CodeInvalidParameters         = "InvalidParameters"
	CodeInvalidParameterException = "InvalidParameterException"
	CodeInvalidDocument           = "InvalidDocument"
	CodeInvalidDocumentContent    = "InvalidDocumentContent"
	CodeInvalidPreferences        = "InvalidPreferences"
	CodeInvalidPolicy             = "InvalidPolicy"
	CodeMalformedQueryException   = "MalformedQueryException"
	CodeUnknownOperation          = "UnknownOperation"
	CodeAmbiguousTarget           = "AmbiguousTarget"
	CodeCrossOrigin               = "CrossOrigin"
	CodeCSRFTokenMissing          = "CSRFTokenMissing"
	CodeMethodNotAllowed          = "MethodNotAllowed"

	// Who the caller is, and what they may do.
	CodeUnauthenticated       = "Unauthenticated"
	CodeAuthenticationFailed  = "AuthenticationFailed"
	CodeAccessDenied          = "AccessDenied"
	CodeAccessDeniedException = "AccessDeniedException"
	CodeLockedOut             = "LockedOut"
	CodeSignInExpired         = "SignInExpired"
	CodeUserRevoked           = "UserRevoked"
	CodeRunAsChanged          = "RunAsChanged"
	CodeRunAsRootDenied       = "RunAsRootDenied"
	CodePolicyLockout         = "PolicyLockout"
	CodeAgentUnauthorized     = "AgentUnauthorized"
	CodeInvalidActivation     = "InvalidActivation"
	CodeNoSingleSignOn        = "NoSingleSignOn"
	CodeTooManyRequests       = "TooManyRequests"

	// Things that do not exist, or exist already.
	CodeNotFoundException              = "NotFoundException"
	CodeResourceNotFoundException      = "ResourceNotFoundException"
	CodeResourceAlreadyExistsException = "ResourceAlreadyExistsException"
	// CodeResourceInUse: Firehose's and CloudWatch Logs' ResourceInUseException,
	// a resource that something else still names.
	CodeResourceInUse     = "ResourceInUseException"
	CodeUserNotFound      = "UserNotFound"
	CodeUserExists        = "UserExists"
	CodeTokenNotFound     = "TokenNotFound"
	CodeAccessKeyNotFound = "AccessKeyNotFound"
	CodePolicyNotFound    = "PolicyNotFound"
	CodeAccountNotFound   = "AccountNotFoundException"
	CodeOrgUnitNotFound   = "OrganizationalUnitNotFoundException"
	CodeSessionNotFound   = "SessionNotFound"
	CodeLogNotFound       = "LogNotFound"
	CodeLogDeleted        = "LogDeleted"
	// CodeRecordingUnavailable: the recording is kept in object storage,
	// which did not answer, and this server has no copy.
	CodeRecordingUnavailable   = "RecordingUnavailable"
	CodeLimitExceededException = "LimitExceededException"

	// Organizations, as AWS Organizations words them.
	CodeNotInOrganization     = "AWSOrganizationsNotInUseException"
	CodeAlreadyInOrganization = "AlreadyInOrganizationException"
	CodeNotManagementAccount  = "NotManagementAccount"
	CodeOrgUnitNotEmpty       = "OrganizationalUnitNotEmptyException"
	CodeDuplicateOrgUnit      = "DuplicateOrganizationalUnitException"
	CodeArchiveNotSet         = "ArchiveNotSet"

	// Stack sets, as CloudFormation words them.
	CodeStackSetNotFound      = "StackSetNotFoundException"
	CodeNameAlreadyExists     = "NameAlreadyExistsException"
	CodeStackSetNotEmpty      = "StackSetNotEmptyException"
	CodeOperationInProgress   = "OperationInProgressException"
	CodeStackInstanceNotFound = "StackInstanceNotFoundException"
	// CodeProtectedByStackSet refuses a change, made in an account, to a
	// resource a stack set deployed there and its template protects.
	CodeProtectedByStackSet = "ProtectedByStackSet"

	// Sessions and their nodes.
	CodeTargetNotConnected = "TargetNotConnected"
	CodeStartFailed        = "StartFailed"
	CodeSessionEnded       = "SessionEnded"
	CodeSessionActive      = "SessionActive"
	CodeNotPortSession     = "NotPortSession"
	CodeConnectionFailed   = "ConnectionFailed"
	CodeForwardingRefused  = "ForwardingRefused"
	CodeLateOutputArriving = "LateOutputArriving"
	CodeDeliveryPending    = "DeliveryPending"
	CodeLogUnreadable      = "LogUnreadable"
	// Remote desktops.
	CodeNotDesktopSession         = "NotDesktopSession"
	CodeDesktopUnavailable        = "DesktopUnavailable"
	CodeInvalidDesktopPreferences = "InvalidConnectionRecordingPreferences"
	// CodeDesktopOnly refuses a terminal stream or a raw port forward of
	// a desktop session, which is shown (and recorded) only as a desktop.
	CodeDesktopOnly = "DesktopSessionOnly"

	// Run Command, as Systems Manager words it.
	CodeInvalidCommandID  = "InvalidCommandId"
	CodeInvalidInstanceID = "InvalidInstanceId"
	CodeInvalidTarget     = "InvalidTarget"
	CodeCommandEnded      = "CommandEnded"

	// Destinations, keys and the server's own state.
	CodeDestinationUnavailable   = "DestinationUnavailable"
	CodeDestinationCheckFailed   = "DestinationCheckFailed"
	CodeKMSKeyNotUsable          = "KMSKeyNotUsable"
	CodeKMSInvalidStateException = "KMSInvalidStateException"
	CodeNoKeyService             = "NoKeyService"
	CodeNoLogStore               = "NoLogStore"
	CodeQueryFailed              = "QueryFailed"
	CodeOutboxFull               = "OutboxFull"
	CodeAuditFailed              = "AuditFailed" // the call's audit record could not be written, so the call failed
	CodeDiskFull                 = "DiskFull"
	// CodeDatabaseUnavailable: the metadata database does not answer;
	// live sessions go on, new ones wait for it.
	CodeDatabaseUnavailable = "DatabaseUnavailable"
	// CodeSessionNotReady: a running session this server is still
	// taking up (after a restart, from object storage).
	CodeSessionNotReady = "SessionNotReady"
	CodeServerStopping  = "ServerStopping"
	CodeInternalError   = "InternalError"
)
