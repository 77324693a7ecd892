package delivery

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/postern/postern/cwlogs"
	"github.com/postern/postern/cwlogs/cwlogstest"
)

// TestStreamEventsSplit checks that lines are packed into events under the
// size limit and that a line longer than an event is cut, never inside a
// UTF-8 character.
func TestStreamEventsSplit(t *testing.T) {
	ctx := context.Background()
	fake := cwlogstest.NewServer()
	defer fake.Close()
	cw, err := cwlogs.New(ctx, cwlogs.Config{Endpoint: fake.URL(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	createGroup(t, fake, "group")
	// The deliverer alone, with only what sending lines uses.
	d := New(Deps{Now: time.Now, Limits: StreamLimits{MaxEvent: 1000}})
	long := strings.Repeat("é", 1500) // 3000 bytes
	if err := d.sendLines(ctx, CloudWatchLogs{Client: cw}, CloudWatchTarget{LogGroup: "group"}, "s", &SessionEvent{}, []string{"short", long, "after"}); err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	events := fake.Events("group", "s")
	for _, ev := range events {
		var m SessionEvent
		if err := json.Unmarshal([]byte(ev.Message), &m); err != nil {
			t.Fatal(err)
		}
		for _, l := range m.SessionData {
			if !utf8.ValidString(l) || strings.ContainsRune(l, utf8.RuneError) {
				t.Fatalf("line cut inside a character: %q", l)
			}
			joined.WriteString(l)
		}
	}
	if joined.String() != "short"+long+"after" {
		t.Errorf("lines lost or reordered")
	}
	if len(events) < 4 {
		t.Errorf("%d events for 3000+ bytes with a 1000-byte limit", len(events))
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
