//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
		if len(lat) == streamLines {
			res.Sides["postern"].StreamLatency = summarize(lat)
			s := res.Sides["postern"].StreamLatency
			logf("postern: stream latency p50 %s p99 %s max %s over %d lines", fmtDur(us(s.P50)), fmtDur(us(s.P99)), fmtDur(us(s.Max)), s.N)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream latency: %d of %d lines of session %s reached the log group within a minute of its end", len(lat), streamLines, id)
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
