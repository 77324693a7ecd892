package relay

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/journalstore"
	"github.com/postern/postern/logger"
	"github.com/postern/postern/s3logs"
	"github.com/postern/postern/s3logs/miniotest"
	"github.com/postern/postern/store"
	"github.com/postern/postern/wire"
)

// logTap keeps what the relay logs, for the test to look for lines.
type logTap struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logTap) logf(format string, args ...any) {
	l.t.Logf(format, args...)
	l.mu.Lock()
	fmt.Fprintf(&l.b, format+"\n", args...)
	l.mu.Unlock()
}

func (l *logTap) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// TestShippingAcks: with object storage as the recordings' system of
// record (a real MinIO), the agent is told a record is durable only once
// object storage has it; while object storage is down the agent keeps
// the records, until the stall timeout makes the relay acknowledge what
// is on local disk (and the journal waits on the backlog); at the end the
// whole journal is stored, so a server that never saw the session reads
// every record.
func TestShippingAcks(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "recordings", false)
	c, err := s3logs.New(ctx, s3logs.Config{Endpoint: srv.URL(), Region: srv.Region(), AccessKeyID: srv.AccessKey(), SecretAccessKey: srv.SecretKey(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bucket := c.Bucket(s3logs.Target{Bucket: "recordings"})
	tap := &logTap{t: t}
	js, err := journalstore.New(bucket, filepath.Join(t.TempDir(), "queue"), tap.logf)
	if err != nil {
		t.Fatal(err)
	}
	f := newRelayFixtureWith(t, func(d *Deps) {
		d.Logf = tap.logf
		d.Ship = func(account, id, path string, fresh bool) Shipper { return js.Shipper(account, id, path, fresh) }
		d.ShipInterval = 100 * time.Millisecond
		d.ShipStallTimeout = time.Second
	})
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	att, agent := agentPair(t)
	if !r.RunAgent(att) {
		t.Fatal("RunAgent refused a running session")
	}
	send := func(seq uint64, kind wire.RecordKind, data string) {
		t.Helper()
		if err := agent.W.Write(wire.TRecord, wire.AppendRecord(nil, wire.Record{Seq: seq, Kind: kind, Data: []byte(data)})); err != nil {
			t.Fatal(err)
		}
	}
	// awaitAck reads acknowledgements until one covers seq.
	awaitAck := func(seq uint64) {
		t.Helper()
		for {
			fr, err := agent.R.Read()
			if err != nil {
				t.Fatalf("reading acknowledgements: %v", err)
			}
			if got, err := wire.ParseSeq(fr.Payload); err != nil || fr.Type != wire.TAck {
				t.Fatalf("agent got %s %v", fr.Type, err)
			} else if got >= seq {
				return
			}
		}
	}
	// output reads what another server would fetch of the journal.
	output := func() string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "fetched.journal")
		if _, err := js.Fetch(ctx, f.sess.Account, f.sess.ID, p); err != nil {
			t.Fatal(err)
		}
		cur := NewJournalCursor(p, nil, false, func() {})
		defer cur.close()
		b, err := cur.appendFrom(nil, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	send(1, wire.RecOutput, "one\r\n")
	send(2, wire.RecOutput, "two\r\n")
	awaitAck(2)
	if got := output(); got != "one\r\ntwo\r\n" {
		t.Fatalf("acknowledged records 1 and 2 while object storage holds %q", got)
	}

	srv.Stop()
	send(3, wire.RecOutput, "three\r\n")
	awaitAck(3)
	if !tap.has("acknowledging its records on this server's disk") {
		t.Fatalf("record 3 acknowledged while object storage was down, before the stall timeout said so")
	}
	if p := js.Pending(); p.Journals != 1 || p.Bytes == 0 {
		t.Errorf("backlog while object storage is down = %+v, want the journal with bytes", p)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	send(4, wire.RecOutput, "four\r\n")
	send(5, wire.RecExit, "Exited")
	var final store.Session
	select {
	case final = <-f.ended:
	case <-time.After(time.Minute):
		t.Fatal("the session did not end on its exit record")
	}
	if final.Status != store.StatusTerminated {
		t.Fatalf("final status %s", final.Status)
	}
	if got := output(); got != "one\r\ntwo\r\nthree\r\nfour\r\n" {
		t.Fatalf("object storage holds %q after the end", got)
	}
	if keys := srv.Keys(t, "recordings", "journals/"); len(keys) != 1 || !strings.HasSuffix(keys[0], "/journal") {
		t.Errorf("objects after the end: %v, want the whole journal only", keys)
	}
	if p := js.Pending(); p.Journals != 0 {
		t.Errorf("backlog after the end = %+v", p)
	}
}

// TestShippingEndWithStorageDown: a session that ends while object
// storage is down (and has not been down long enough to acknowledge on
// local disk) tells its agent only what object storage holds: the agent
// keeps the rest for a later hand-over, and the journal waits on the
// backlog.
func TestShippingEndWithStorageDown(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.CreateBucket(t, "recordings", false)
	c, err := s3logs.New(ctx, s3logs.Config{Endpoint: srv.URL(), Region: srv.Region(), AccessKeyID: srv.AccessKey(), SecretAccessKey: srv.SecretKey(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	js, err := journalstore.New(c.Bucket(s3logs.Target{Bucket: "recordings"}), filepath.Join(t.TempDir(), "queue"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	f := newRelayFixtureWith(t, func(d *Deps) {
		d.Ship = func(account, id, path string, fresh bool) Shipper { return js.Shipper(account, id, path, fresh) }
		d.ShipInterval = 100 * time.Millisecond
		d.ShipStallTimeout = time.Hour
	})
	r := f.table.Start(f.sess, f.jpath, f.j, 0)
	att, agent := agentPair(t)
	if !r.RunAgent(att) {
		t.Fatal("RunAgent refused a running session")
	}
	acks := make(chan uint64, 100)
	go func() {
		defer close(acks)
		for {
			fr, err := agent.R.Read()
			if err != nil {
				return
			}
			if seq, err := wire.ParseSeq(fr.Payload); err == nil && fr.Type == wire.TAck {
				acks <- seq
			}
		}
	}()
	send := func(rec wire.Record) {
		t.Helper()
		if err := agent.W.Write(wire.TRecord, wire.AppendRecord(nil, rec)); err != nil {
			t.Fatal(err)
		}
	}
	send(wire.Record{Seq: 1, Kind: wire.RecOutput, Data: []byte("shipped\r\n")})
	if got := <-acks; got != 1 {
		t.Fatalf("first ack %d, want 1", got)
	}
	srv.Stop()
	send(wire.Record{Seq: 2, Kind: wire.RecOutput, Data: []byte("not shipped\r\n")})
	send(wire.Record{Seq: 3, Kind: wire.RecExit, Data: []byte("Exited")})
	select {
	case <-f.ended:
	case <-time.After(2 * time.Minute):
		t.Fatal("the session did not end")
	}
	att.Stream.Close()
	for seq := range acks {
		if seq > 1 {
			t.Fatalf("the agent was told record %d is safe while object storage holds only record 1", seq)
		}
	}
	if p := js.Pending(); p.Journals != 1 {
		t.Errorf("backlog = %+v, want the ended journal", p)
	}
}

// BenchmarkAgentThroughput measures what a recording's system of record
// costs the node: an agent sends 32 KiB records as fast as its window of
// unacknowledged records (16 MiB, as the real agent's) allows, and the
// benchmark runs until the last is acknowledged, with the journal on
// local disk (acknowledged once synced) and with a real MinIO as the
// system of record (acknowledged once shipped).
//
//	go test -run NONE -bench AgentThroughput ./relay
func BenchmarkAgentThroughput(b *testing.B) {
	for _, bucket := range []bool{false, true} {
		name := "local-disk"
		if bucket {
			name = "object-storage"
		}
		b.Run(name, func(b *testing.B) { benchAgent(b, bucket) })
	}
}

func benchAgent(b *testing.B, bucket bool) {
	const rec, window, total = 32 << 10, 16 << 20, 256 << 20
	var c *s3logs.Client
	if bucket {
		srv := miniotest.Start(b)
		srv.CreateBucket(b, "recordings", false)
		var err error
		c, err = s3logs.New(context.Background(), s3logs.Config{Endpoint: srv.URL(), Region: srv.Region(), AccessKeyID: srv.AccessKey(), SecretAccessKey: srv.SecretKey(), Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, rec)
	b.SetBytes(total)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		var ship func(account, id, path string, fresh bool) Shipper
		if bucket {
			// Each run's session is new: a prefix of its own.
			js, err := journalstore.New(c.Bucket(s3logs.Target{Bucket: "recordings", Prefix: fmt.Sprintf("run-%d", i)}), filepath.Join(b.TempDir(), "queue"), nil)
			if err != nil {
				b.Fatal(err)
			}
			ship = func(account, id, path string, fresh bool) Shipper { return js.Shipper(account, id, path, fresh) }
		}
		f := newRelayFixtureWith(b, func(d *Deps) { d.Ship, d.Logf = ship, logger.Discard })
		r := f.table.Start(f.sess, f.jpath, f.j, 0)
		att, agent := agentPair(b)
		r.RunAgent(att)
		var acked atomic.Uint64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				fr, err := agent.R.Read()
				if err != nil {
					return
				}
				if seq, err := wire.ParseSeq(fr.Payload); err == nil && fr.Type == wire.TAck {
					acked.Store(seq)
					if seq == total/rec {
						return
					}
				}
			}
		}()
		b.StartTimer()
		for seq := uint64(1); seq <= total/rec; seq++ {
			for (seq-acked.Load())*rec > window {
				time.Sleep(100 * time.Microsecond)
			}
			if err := agent.W.Write(wire.TRecord, wire.AppendRecord(nil, wire.Record{Seq: seq, Kind: wire.RecOutput, Data: data})); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.StopTimer()
		att.Stream.Close()
	}
}
