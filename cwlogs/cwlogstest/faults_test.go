package cwlogstest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/postern/postern/cwlogs/cwlogstest"
)

func describe(ctx context.Context, c *cloudwatchlogs.Client) error {
	_, err := c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	return err
}

func TestThrottle(t *testing.T) {
	t.Run("without retries every throttled call surfaces", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv)
		srv.Throttle(2)
		for i := range 2 {
			err := describe(t.Context(), c)
			wantErr[*types.ThrottlingException]("Rate exceeded")(t, err)
			if got := httpStatus(t, err); got != 400 {
				t.Errorf("call %d: status = %d, want 400", i, got)
			}
		}
		if err := describe(t.Context(), c); err != nil {
			t.Errorf("third call: %v", err)
		}
		if got := srv.Calls("DescribeLogGroups"); got != 3 {
			t.Errorf("Calls = %d, want 3", got)
		}
	})

	t.Run("the SDK's standard retryer rides out throttling", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv, withRetries(3))
		srv.Throttle(2)
		if err := describe(t.Context(), c); err != nil {
			t.Fatalf("with 3 attempts: %v", err)
		}
		if got := srv.Calls("DescribeLogGroups"); got != 3 {
			t.Errorf("Calls = %d, want 3 (two throttled, one served)", got)
		}
		srv.Throttle(3)
		err := describe(t.Context(), c)
		wantErr[*types.ThrottlingException]()(t, err)
		if got := srv.Calls("DescribeLogGroups"); got != 6 {
			t.Errorf("Calls = %d, want 6", got)
		}
	})

	t.Run("ThrottleOp limits throttling to one operation", func(t *testing.T) {
		srv := newServer(t, cwlogstest.WithClock(fixedClock))
		c := newClient(t, srv)
		srv.ThrottleOp("PutLogEvents", 1)
		createGroup(t, c, "/t")
		createStream(t, c, "/t", "s")
		_, err := put(t.Context(), c, "/t", "s", []types.InputLogEvent{ev(ms(fixedNow), "x")})
		wantErr[*types.ThrottlingException]()(t, err)
		mustPut(t, c, "/t", "s", []types.InputLogEvent{ev(ms(fixedNow), "x")})
		if got := len(srv.Events("/t", "s")); got != 1 {
			t.Errorf("stored %d events, want 1 (the throttled call must store nothing)", got)
		}
	})
}

func TestDelay(t *testing.T) {
	t.Run("a delay longer than the client's deadline times the call out", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv)
		srv.SetDelay(5 * time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err := describe(ctx, c)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want context.DeadlineExceeded", err)
		}
		srv.SetDelay(0)
		if err := describe(t.Context(), c); err != nil {
			t.Errorf("after SetDelay(0): %v", err)
		}
	})

	t.Run("a short delay is only latency", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv)
		srv.SetDelay(150 * time.Millisecond)
		start := time.Now()
		if err := describe(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Errorf("call took %v, want at least the delay", el)
		}
	})

	t.Run("Close releases a hung request", func(t *testing.T) {
		srv := cwlogstest.NewServer()
		c := newClient(t, srv)
		srv.SetDelay(time.Hour)
		done := make(chan error, 1)
		go func() { done <- describe(t.Context(), c) }()
		for srv.Calls("DescribeLogGroups") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close blocked on a delayed request")
		}
		if err := <-done; err == nil {
			t.Error("the hung request succeeded")
		}
	})
}

func TestDown(t *testing.T) {
	t.Run("503 ServiceUnavailableException", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv)
		srv.SetDown(true)
		err := describe(t.Context(), c)
		wantErr[*types.ServiceUnavailableException]()(t, err)
		if got := httpStatus(t, err); got != 503 {
			t.Errorf("status = %d, want 503", got)
		}
		srv.SetDown(false)
		if err := describe(t.Context(), c); err != nil {
			t.Errorf("after SetDown(false): %v", err)
		}
	})

	t.Run("the SDK retries a 503", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv, withRetries(4))
		srv.SetDown(true)
		err := describe(t.Context(), c)
		wantErr[*types.ServiceUnavailableException]()(t, err)
		if got := srv.Calls("DescribeLogGroups"); got != 4 {
			t.Errorf("Calls = %d, want 4 attempts", got)
		}
	})

	t.Run("connection reset", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, srv)
		srv.SetDownBehavior(cwlogstest.DownReset)
		srv.SetDown(true)
		err := describe(t.Context(), c)
		if err == nil {
			t.Fatal("call succeeded against a down server")
		}
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			t.Errorf("a reset connection produced an API error: %v", err)
		}
		if got := srv.Calls("DescribeLogGroups"); got != 1 {
			t.Errorf("Calls = %d, want 1", got)
		}
		srv.SetDown(false)
		if err := describe(t.Context(), c); err != nil {
			t.Errorf("after SetDown(false): %v", err)
		}
	})
}

// TestConcurrentDelivery puts from many goroutines at once; run with -race.
func TestConcurrentDelivery(t *testing.T) {
	srv := newServer(t, cwlogstest.WithClock(fixedClock))
	c := newClient(t, srv)
	createGroup(t, c, "/conc")
	createStream(t, c, "/conc", "shared")
	const workers, batches, perBatch = 8, 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		name := fmt.Sprintf("w%d", w)
		createStream(t, c, "/conc", name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				for _, s := range []string{name, "shared"} {
					if _, err := put(t.Context(), c, "/conc", s, evs(perBatch, ms(fixedNow)-int64(b), 0, name)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(srv.Events("/conc", "shared")); got != workers*batches*perBatch {
		t.Errorf("shared stream has %d events, want %d", got, workers*batches*perBatch)
	}
	if got := len(srv.Events("/conc", "w3")); got != batches*perBatch {
		t.Errorf("w3 has %d events", got)
	}
	shared := srv.Events("/conc", "shared")
	for i := 1; i < len(shared); i++ {
		if shared[i].Timestamp < shared[i-1].Timestamp {
			t.Fatalf("Events not in timestamp order at %d", i)
		}
	}
	if got := srv.Calls("PutLogEvents"); got != 2*workers*batches {
		t.Errorf("Calls(PutLogEvents) = %d", got)
	}
	if g := srv.Groups(); len(g) != 1 || len(g[0].Streams) != workers+1 {
		t.Errorf("Groups() = %+v", g)
	}
}
