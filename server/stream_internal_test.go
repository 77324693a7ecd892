package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/cwlogs"
	"github.com/postern/postern/cwlogs/cwlogstest"
	"github.com/postern/postern/delivery"
	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
)

// TestStreamResumesAtCursor streams an ended session's journal to the
// CloudWatch Logs fake as if an earlier attempt had sent everything up to
// record 2: exactly the lines completed after it must go, including the
// one that record 3 began, and the cursor must end at the last record.
func TestStreamResumesAtCursor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	createGroup(t, fake, "group")
	srv, err := New(Config{DataDir: dir, Store: st, Logf: t.Logf, CloudWatch: delivery.CloudWatchLogs{Client: cw}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	start := time.Unix(1700000000, 0)
	sess := store.Session{ID: "alice-00000000000000001", Account: store.DefaultAccount, Owner: "alice", Target: "mi-00000000000000001",
		Document: DefaultDocument, Status: store.StatusTerminated, RunAsUser: "ssm-user", StartedAt: start, EndedAt: start.Add(time.Minute), Cols: 80, Rows: 24}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(srv.journalPath(sess.Account, sess.ID)), 0o700); err != nil {
		t.Fatal(err)
	}
	j, err := recording.CreateJournal(srv.journalPath(sess.Account, sess.ID), recording.Meta{SessionID: sess.ID, Start: start, Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{"one\r\n", "two\r\n", "thr", "ee\r\nfour\r\n", "$ "} {
		if _, err := j.Append(recording.Record{Seq: uint64(i + 1), Kind: recording.KindOutput, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	j.Append(recording.Record{Seq: 6, Kind: recording.KindExit})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	dl := store.Delivery{Account: sess.Account, SessionID: sess.ID, Destination: "cloudwatch", Artifact: "events",
		Target: `{"logGroup":"group","streaming":true}`, Status: store.DeliveryPending, Cursor: 2, CreatedAt: start}
	if err := st.CreateDeliveries(ctx, []store.Delivery{dl}); err != nil {
		t.Fatal(err)
	}
	if err := srv.deliver.Stream(ctx, &dl, srv.cfg.CloudWatch, CloudWatchTarget{LogGroup: "group", Streaming: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range fake.Events("group", sess.ID) {
		var m delivery.SessionEvent
		if err := json.Unmarshal([]byte(ev.Message), &m); err != nil {
			t.Fatal(err)
		}
		if m.SessionID != sess.ID || m.RunAsUser != "ssm-user" || m.UserIdentity.ARN != "prn:postern:iam:000000000001:user/alice" {
			t.Errorf("event %s", ev.Message)
		}
		got = append(got, m.SessionData...)
	}
	if want := []string{"three", "four", "$"}; !reflect.DeepEqual(got, want) {
		t.Errorf("streamed %q, want %q", got, want)
	}
	if dl.Cursor != 6 {
		t.Errorf("cursor %d, want 6", dl.Cursor)
	}
	stored, _ := st.ListDeliveries(ctx, sess.Account, sess.ID)
	if len(stored) != 1 || stored[0].Cursor != 6 {
		t.Errorf("stored cursor: %+v", stored)
	}
}

func createGroup(t *testing.T, fake *cwlogstest.Server, name string) {
	t.Helper()
	c := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	if _, err := c.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}
