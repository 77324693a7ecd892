//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

// streamGroup is the log group the stream measurement streams to.
const streamGroup = "postern-bench-stream"

// streamLines is how many timestamped lines the streamed session prints,
// streamGap the pause between two.
const (
	streamLines = 300
	streamGap   = "0.02"
)

// streamDestination is a CloudWatch Logs endpoint for postern dev to
// stream to: cwlogstest's fake, in this process, which stamps each event
// with the time it accepted it. (No runnable CloudWatch Logs exists to
// start on loopback; the fake enforces the real API's limits.)
type streamDestination struct {
	fake *cwlogstest.Server
}

func startStreamDestination() *streamDestination {
	return &streamDestination{fake: cwlogstest.NewServer()}
}

// env points postern dev's default AWS chain at the fake.
func (d *streamDestination) env() []string {
	return []string{
		"AWS_ENDPOINT_URL_LOGS=" + d.fake.URL(), "AWS_REGION=" + d.fake.Region(),
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true",
	}
}

func (d *streamDestination) close() { d.fake.Close() }

func (d *streamDestination) createGroup(ctx context.Context) error {
	c := cloudwatchlogs.New(cloudwatchlogs.Options{Region: d.fake.Region(), BaseEndpoint: aws.String(d.fake.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")})
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(streamGroup)}); err != nil {
		return fmt.Errorf("stream latency: create log group: %w", err)
	}
	return nil
}

// stampRE is a line the session printed: its time on the node, in
// nanoseconds since the epoch.
var stampRE = regexp.MustCompile(`^stamp-([0-9]{19})$`)

// measureStream streams a session to the fake log group and measures, for
// each line, from its time on the node (printed in the line by `date`) to
// the fake accepting the event that holds it. Postern alone: ssh has no
// log destination. It sets the account's preferences to stream, so it
// runs last.
func measureStream(ctx context.Context, reg *registry, p *posternSide, dest *streamDestination, res *results) error {
	logf("stream latency: %d lines, one every %ss, streamed to a log group of cwlogstest's CloudWatch Logs fake", streamLines, streamGap)
	if err := dest.createGroup(ctx); err != nil {
		return err
	}
	prefs := filepath.Join(res.Settings.TempDir, "stream-prefs.json")
	doc := fmt.Sprintf(`{"schemaVersion":"1.0","sessionType":"Standard_Stream","inputs":{"cloudWatchLogGroupName":%q,"cloudWatchStreamingEnabled":true}}`, streamGroup)
	if err := os.WriteFile(prefs, []byte(doc), 0o600); err != nil {
		return err
	}
	if _, err := runQuick(ctx, reg, "postern prefs set", p.cli("prefs", "set", "-f", prefs), 30*time.Second); err != nil {
		return err
	}
	// Postern's own log group takes every session: follow it as a user
	// would, and note when each stamp shows up in the tail.
	if _, err := runQuick(ctx, reg, "postern exec (creates the own log group)", p.command("true"), time.Minute); err != nil {
		return err
	}
	tailed := newTailWatcher()
	tailCmd := p.cli("logs", "tail", "-f", "-o", "json", "--since", "1s")
	tailCmd.Stdout = tailed
	tail, err := reg.start("postern logs tail -f", tailCmd)
	if err != nil {
		return err
	}
	defer tail.stop(5 * time.Second)

	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "stamp-$(date +%%s%%N)"; sleep %s; i=$((i+1)); done`, streamLines, streamGap)
	if _, err := runQuick(ctx, reg, "postern exec (streamed)", p.command("sh", "-c", script), 5*time.Minute); err != nil {
		return err
	}
	ss, err := p.sessions(ctx)
	if err != nil {
		return err
	}
	if len(ss) == 0 {
		return fmt.Errorf("stream latency: no session listed")
	}
	id := ss[0].ID
	deadline := time.Now().Add(time.Minute)
	for {
		lat, err := dest.latencies(id)
		if err != nil {
			return err
		}
		tl := tailed.latencies()
		if len(lat) == streamLines && len(tl) == streamLines {
			sr := res.Sides["postern"]
			sr.StreamLatency, sr.TailLatency = summarize(lat), summarize(tl)
			s, t := sr.StreamLatency, sr.TailLatency
			logf("postern: stream latency p50 %s p99 %s max %s over %d lines", fmtDur(us(s.P50)), fmtDur(us(s.P99)), fmtDur(us(s.Max)), s.N)
			logf("postern: live tail latency p50 %s p99 %s max %s over %d lines", fmtDur(us(t.P50)), fmtDur(us(t.P99)), fmtDur(us(t.Max)), t.N)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream latency: of %d lines of session %s, %d reached the log group and %d the tail within a minute of its end", streamLines, id, len(lat), len(tl))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// latencies reads the session's stream back from the fake.
func (d *streamDestination) latencies(session string) ([]time.Duration, error) {
	var out []time.Duration
	for _, ev := range d.fake.Events(streamGroup, session) {
		var e struct {
			SessionData []string `json:"sessionData"`
		}
		if err := json.Unmarshal([]byte(ev.Message), &e); err != nil {
			return nil, fmt.Errorf("stream latency: event %q is not Session Manager's JSON: %w", ev.Message, err)
		}
		for _, line := range e.SessionData {
			m := stampRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			ns, err := strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				return nil, err
			}
			// The fake's ingestion time has millisecond resolution;
			// the node's stamp is finer.
			out = append(out, time.UnixMilli(ev.IngestionTime).Sub(time.Unix(0, ns)))
		}
	}
	return out, nil
}

// tailWatcher reads `postern logs tail -o json` and notes when each stamp
// line arrives.
type tailWatcher struct {
	mu   sync.Mutex // guards buf and lat
	buf  []byte
	lat  []time.Duration
	seen map[string]bool
}

func newTailWatcher() *tailWatcher { return &tailWatcher{seen: map[string]bool{}} }

func (w *tailWatcher) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i]
		w.buf = w.buf[i+1:]
		var ev struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		var e struct {
			SessionData []string `json:"sessionData"`
		}
		if json.Unmarshal([]byte(ev.Message), &e) != nil {
			continue
		}
		for _, l := range e.SessionData {
			m := stampRE.FindStringSubmatch(l)
			if m == nil || w.seen[m[1]] {
				continue
			}
			w.seen[m[1]] = true
			if ns, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				w.lat = append(w.lat, now.Sub(time.Unix(0, ns)))
			}
		}
	}
	return len(p), nil
}

func (w *tailWatcher) latencies() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.lat...)
}
