package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/recording"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// The agent writes typed marks with wire's constants, the recorder reads
// them with recording's: they are the same bytes, as the record kind is
// the same number.
func TestTypedMarksAgree(t *testing.T) {
	if wire.TypedLine != recording.TypedLine || wire.TypedEnter != recording.TypedEnter || int(wire.RecTyped) != int(recording.KindTyped) {
		t.Fatal("wire's and recording's typed marks differ")
	}
}

// TestTypedLineEvents streams a session whose shell has no integration:
// each line entered at a prompt is a command event with its prompt and
// without an exit code or a duration; a command of an integrated shell
// keeps both.
func TestTypedLineEvents(t *testing.T) {
	ctx := context.Background()
	srv, st, ls, sess, j := ownLogsSession(t, "alice-00000000000000003")
	start := sess.StartedAt
	seq := uint64(0)
	add := func(kind recording.Kind, data string) {
		seq++
		if _, err := j.Append(recording.Record{Seq: seq, Time: time.Duration(seq) * time.Second, Kind: kind, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	add(recording.KindOutput, "\x1b]133;A\x07$ \x1b]133;B\x07")
	add(recording.KindTyped, "LE")
	add(recording.KindOutput, "ssh db1\r\n\x1b]133;C\x07Password: ")
	add(recording.KindTyped, "LE") // the password: no echo
	add(recording.KindOutput, "\r\n[root@db1 ~]# ")
	add(recording.KindTyped, "L")
	add(recording.KindOutput, "id")
	add(recording.KindTyped, "E")
	add(recording.KindOutput, "\r\nuid=0(root)\r\n[root@db1 ~]# ")
	add(recording.KindTyped, "LE")
	add(recording.KindOutput, "exit\r\nlogout\r\n\x1b]133;D;0\x07")
	seq++
	j.Append(recording.Record{Seq: seq, Time: time.Duration(seq) * time.Second, Kind: recording.KindExit})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	dl := store.Delivery{Account: sess.Account, SessionID: sess.ID, Destination: ownLogs, Artifact: "events",
		Target: `{"logGroup":"/postern/sessions","streaming":true}`, Status: store.DeliveryPending, CreatedAt: start}
	if err := st.CreateDeliveries(ctx, []store.Delivery{dl}); err != nil {
		t.Fatal(err)
	}
	dest, _ := srv.logDestination(ownLogs)
	if err := srv.deliver.Stream(ctx, &dl, dest, CloudWatchTarget{Account: sess.Account, LogGroup: OwnLogGroup, Streaming: true}); err != nil {
		t.Fatal(err)
	}
	evs, err := ls.Events(ctx, sess.Account, OwnLogGroup, sess.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if strings.Contains(e.Message, `"eventType":"Command"`) {
			// The parts that depend on the command, not on who or where.
			i := strings.Index(e.Message, `"command"`)
			got = append(got, e.Message[i:])
		}
	}
	want := []string{
		`"command":"id","castOffset":8,"prompt":"[root@db1 ~]#"}`,
		`"command":"exit","castOffset":10,"prompt":"[root@db1 ~]#"}`,
		`"command":"ssh db1","exitCode":0,"durationMs":8000,"castOffset":3}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("command events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
