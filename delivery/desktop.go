package delivery

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"io"
	"time"

	"github.com/postern/postern/ids"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// DesktopMetadata is the JSON object delivered beside a desktop
// connection's recording (SESSIONID.json next to SESSIONID.guac): who
// operated the desktop, where and when, and what the recording is, so that
// an auditor holding the bucket alone need not trace the connection back
// through the server's history.
type DesktopMetadata struct {
	ConnectionID string     `json:"connectionId"` // the session id
	Account      string     `json:"account"`
	UserARN      string     `json:"userArn"`
	User         string     `json:"user"`
	NodeID       string     `json:"nodeId"`
	NodeName     string     `json:"nodeName,omitempty"`
	DesktopUser  string     `json:"desktopUser,omitempty"` // DOMAIN\user, as signed in with; empty: signed in on the desktop's own screen
	Security     string     `json:"security,omitempty"`
	Certificate  string     `json:"certificateSha256,omitempty"` // the desktop's TLS certificate
	StartTime    time.Time  `json:"startTime"`
	EndTime      *time.Time `json:"endTime,omitempty"`
	Status       string     `json:"status"`
	StatusReason string     `json:"statusReason,omitempty"`
	Recording    Recording  `json:"recording"`
}

// Recording describes the recording object a metadata object goes with.
type Recording struct {
	Object string `json:"object"` // its name beside this one
	Format string `json:"format"` // "guacamole": Guacamole protocol instructions with sync timestamps
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// renderDesktopMetadata writes a desktop session's metadata object.
func (d *Worker) renderDesktopMetadata(ctx context.Context, dl store.Delivery, jpath string, key cipher.AEAD, w io.Writer) error {
	sum, err := recording.RenderGuac(jpath, key, nil)
	if err != nil {
		return err
	}
	sess, err := d.Store.GetSession(ctx, dl.SessionID)
	if err != nil {
		return err
	}
	m := DesktopMetadata{
		ConnectionID: sess.ID, Account: sess.Account, UserARN: ids.UserARN(sess.Account, sess.Owner), User: sess.Owner,
		NodeID: sess.Target, Security: sum.Desktop.Security, Certificate: sum.Desktop.Certificate,
		StartTime: sess.StartedAt, Status: sess.Status, StatusReason: sess.StatusReason,
		Recording: Recording{Object: sess.ID + ".guac", Format: "guacamole", Bytes: sum.Bytes, SHA256: sum.SHA256},
	}
	if d.NodeName != nil {
		m.NodeName = d.NodeName(ctx, sess.Target)
	}
	if u := sum.Desktop.User; u != "" {
		m.DesktopUser = u
		if sum.Desktop.Domain != "" {
			m.DesktopUser = sum.Desktop.Domain + `\` + u
		}
	}
	if !sess.EndedAt.IsZero() {
		end := sess.EndedAt
		m.EndTime = &end
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
