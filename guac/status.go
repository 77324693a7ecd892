package guac

import "strconv"

// Status is a Guacamole protocol status code, as an error instruction or an
// ack carries it (guacamole-common-js's Guacamole.Status.Code).
type Status int

// The status codes Postern sends; the browser's client shows its own text
// for some of them, and the console shows the message that comes with it.
const (
	StatusSuccess             Status = 0x0000
	StatusUnsupported         Status = 0x0100
	StatusServerError         Status = 0x0200
	StatusUpstreamTimeout     Status = 0x0202
	StatusUpstreamError       Status = 0x0203
	StatusResourceNotFound    Status = 0x0204
	StatusResourceClosed      Status = 0x0206
	StatusUpstreamNotFound    Status = 0x0207
	StatusUpstreamUnavailable Status = 0x0208
	StatusSessionConflict     Status = 0x0209
	StatusSessionTimeout      Status = 0x020A
	StatusSessionClosed       Status = 0x020B
	StatusClientBadRequest    Status = 0x0300
	StatusClientUnauthorized  Status = 0x0301
	StatusClientForbidden     Status = 0x0303
	StatusClientTimeout       Status = 0x0308
	StatusClientOverrun       Status = 0x030D
	StatusClientTooMany       Status = 0x031D
)

// String is the code in decimal, as instructions carry it.
func (s Status) String() string { return strconv.Itoa(int(s)) }

// ErrorInstruction is the encoding of an error instruction: the browser's
// client ends the connection and reports msg with code.
func ErrorInstruction(msg string, code Status) []byte {
	return Encode("error", msg, code.String())
}
