package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/api"
	"github.com/postern/postern/webhook"
)

// motoServer runs moto_server (the machine's Python's moto: a runnable,
// independent implementation of SNS and SQS) on a loopback port.
func motoServer(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("moto_server is missing (pip's moto)")
		}
		t.Skip("no moto_server")
	}
	port := freePort(t)
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(testCtx(t), t, "moto_server to answer", func() bool {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return url
}

// awsMoto runs the AWS CLI against moto.
func awsMoto(t *testing.T, url string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testCtx(t), "aws", append([]string{"--endpoint-url", url, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("aws %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

// TestEventRules: a rule on Session State Change for nodes tagged
// env=prod delivers exactly the matching events to an SNS topic (moto,
// read back through an SQS queue subscribed to it) and, transformed, to a
// Slack-style webhook; test-pattern says why an event matches or not; bad
// patterns and targets are refused naming the field.
func TestEventRules(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("no AWS CLI")
	}
	moto := motoServer(t)
	var topic struct{ TopicArn string }
	json.Unmarshal([]byte(awsMoto(t, moto, "sns", "create-topic", "--name", "prod-sessions")), &topic)
	var queue struct{ QueueUrl string }
	json.Unmarshal([]byte(awsMoto(t, moto, "sqs", "create-queue", "--queue-name", "prod-sessions")), &queue)
	var attrs struct{ Attributes map[string]string }
	json.Unmarshal([]byte(awsMoto(t, moto, "sqs", "get-queue-attributes", "--queue-url", queue.QueueUrl, "--attribute-names", "QueueArn")), &attrs)
	awsMoto(t, moto, "sns", "subscribe", "--topic-arn", topic.TopicArn, "--protocol", "sqs", "--notification-endpoint", attrs.Attributes["QueueArn"],
		"--attributes", "RawMessageDelivery=true")

	var mu sync.Mutex
	var texts []string
	secret := strings.Repeat("w", 32)
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m struct{ Text string }
		json.Unmarshal(body, &m)
		mu.Lock()
		texts = append(texts, m.Text)
		mu.Unlock()
	}))
	defer hook.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw}))

	dir := t.TempDir()
	devConfig := filepath.Join(dir, "dev.yaml")
	os.WriteFile(devConfig, []byte("cloudWatch: {use: builtin}\n"), 0o600)
	e := startDevEnv(t, []string{"AWS_ENDPOINT_URL_SNS=" + moto, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}, "--config", devConfig)

	pattern := writeFile(t, "pattern.json", `{"source": ["postern.sessions"], "detail-type": ["Session State Change"],
		"detail": {"state": ["Started"], "target": {"tags": {"env": ["prod"]}}}}`)
	targets, _ := json.Marshal([]api.RuleTarget{
		{ID: "notify", SNSTopicARN: topic.TopicArn},
		{ID: "chat", Webhook: &api.HTTPEndpoint{URL: hook.URL + "/slack", Secret: secret, CAPEM: ca, Format: "slack"},
			InputTransformer: &api.InputTransformer{InputPathsMap: map[string]string{"who": "$.detail.userIdentity.arn", "node": "$.detail.target.name"},
				InputTemplate: "<who> started a session on <node>"}},
	})
	targetsFile := writeFile(t, "targets.json", string(targets))

	e.mustFail([]string{"events", "rules", "put", "bad", "--pattern-file", writeFile(t, "bad.json", `{"detail": {"state": {"prefix": 1}}}`)}, "eventPattern: ")
	e.mustFail([]string{"events", "rules", "put", "bad", "--pattern-file", pattern, "--targets-file", writeFile(t, "badt.json", `[{"id": "x", "snsTopicArn": "topic"}]`)}, `targets[0].snsTopicArn "topic"`)
	e.mustFail([]string{"events", "rules", "put", "bad", "--pattern-file", pattern, "--targets-file", writeFile(t, "badw.json", `[{"id": "x", "webhook": {"url": "https://h.example/", "secret": "short"}}]`)}, "targets[0].webhook: secret: 5 bytes")
	e.mustFail([]string{"events", "rules", "put", "bad", "--pattern-file", pattern, "--targets-file", writeFile(t, "nosuch.json", `[{"id": "x", "snsTopicArn": "arn:aws:sns:us-east-1:123456789012:missing"}]`)}, "targets[0] (x): sns: topic arn:aws:sns:us-east-1:123456789012:missing")
	e.mustFail([]string{"events", "rules", "put", "bad", "--pattern-file", pattern, "--targets-file", writeFile(t, "untrusted.json", `[{"id": "x", "webhook": {"url": "`+hook.URL+`", "secret": "`+secret+`"}}]`)}, "targets[0] (x): "+hook.URL)
	e.mustRun(ctx, "events", "rules", "put", "prod-sessions", "--pattern-file", pattern, "--targets-file", targetsFile)

	// A prod node beside postern dev's own (untagged) one.
	act := regexp.MustCompile(`postern-agent register --server (\S+) --code (\S+) --id (\S+) --ca-pin (\S+)`).FindStringSubmatch(e.mustRun(ctx, "activations", "create", "--tag", "env=prod"))
	agentDir := filepath.Join(e.dir, "agent-prod")
	reg := start(t, nil, "agent", "register", "--dir", agentDir, "--server", act[1], "--code", act[2], "--id", act[3], "--ca-pin", act[4], "--name", "prod-1")
	reg.waitFor(ctx, regexp.MustCompile(`Registered this node`))
	start(t, nil, "agent", "run", "--dir", agentDir)
	for {
		out, errOut, code := e.run(ctx, "exec", "prod-1", "--", "echo", "Zq6Prod")
		if code == 0 && out == "Zq6Prod\n" {
			break
		}
		if !strings.Contains(errOut, "offline") {
			t.Fatalf("exec on prod-1: exit %d, %q %s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.mustRun(ctx, "exec", hostname(t), "--", "echo", "Zq6Dev")

	// Exactly the prod session's start reaches the topic.
	var got []map[string]any
	waitFor(ctx, t, "the prod session's start in the SQS queue", func() bool {
		var msgs struct{ Messages []struct{ Body string } }
		json.Unmarshal([]byte(awsMoto(t, moto, "sqs", "receive-message", "--queue-url", queue.QueueUrl, "--max-number-of-messages", "10", "--wait-time-seconds", "1")), &msgs)
		for _, m := range msgs.Messages {
			var ev map[string]any
			if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
				t.Fatalf("SNS message %q: %v", m.Body, err)
			}
			got = append(got, ev)
		}
		return len(got) >= 1
	})
	time.Sleep(2 * time.Second) // anything wrongly matched would be there by now
	var more struct{ Messages []struct{ Body string } }
	json.Unmarshal([]byte(awsMoto(t, moto, "sqs", "receive-message", "--queue-url", queue.QueueUrl, "--max-number-of-messages", "10", "--wait-time-seconds", "1")), &more)
	if len(got) != 1 || len(more.Messages) != 0 {
		t.Fatalf("the topic got %d+%d events, want exactly the prod session's start: %v %v", len(got), len(more.Messages), got, more.Messages)
	}
	ev := got[0]
	detail, _ := ev["detail"].(map[string]any)
	target, _ := detail["target"].(map[string]any)
	if ev["version"] != "0" || ev["source"] != "postern.sessions" || ev["detail-type"] != "Session State Change" || ev["account"] != "000000000001" ||
		detail["state"] != "Started" || target["name"] != "prod-1" || detail["documentName"] == "" {
		t.Errorf("the event: %v", ev)
	}
	waitFor(ctx, t, "the chat webhook's message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(texts) >= 1
	})
	mu.Lock()
	if len(texts) != 1 || texts[0] != "prn:postern:iam:000000000001:user/admin started a session on prod-1" {
		t.Errorf("chat messages: %q", texts)
	}
	mu.Unlock()

	var rules []api.Rule
	e.jsonOut(ctx, &rules, "events", "rules", "ls")
	if len(rules) != 1 || len(rules[0].Targets) != 2 || rules[0].Targets[1].Webhook == nil || rules[0].Targets[1].Webhook.Secret != "" {
		t.Errorf("rules ls: %+v (never a secret)", rules)
	}

	// test-pattern says why.
	evFile := writeFile(t, "event.json", `{"source": "postern.sessions", "detail-type": "Session State Change", "detail": {"state": "Terminated", "target": {"tags": {"env": "prod"}}}}`)
	out, _, code := e.run(ctx, "events", "rules", "test-pattern", "--pattern-file", pattern, "--event-file", evFile)
	if code != 1 || !strings.Contains(out, `no match: detail.state: "Terminated"`) {
		t.Errorf("test-pattern on a Terminated event: exit %d, %q", code, out)
	}
	matching := writeFile(t, "match.json", `{"source": "postern.sessions", "detail-type": "Session State Change", "detail": {"state": "Started", "target": {"tags": {"env": "prod"}}}}`)
	if out := e.mustRun(ctx, "events", "rules", "test-pattern", "--pattern-file", pattern, "--event-file", matching); !strings.HasPrefix(out, "matched:") || !strings.Contains(out, "detail.target.tags.env") {
		t.Errorf("test-pattern on a matching event: %q", out)
	}
	e.mustRun(ctx, "events", "rules", "delete", "prod-sessions")

	// Keys' and nodes' state changes are events too, in the account's
	// event group.
	keyOut := e.mustRun(ctx, "keys", "create", "--description", "events")
	keyID := regexp.MustCompile(`Created key (\S+) `).FindStringSubmatch(keyOut)[1]
	e.mustRun(ctx, "keys", "disable", keyID)
	kinds := func(stream string) string {
		out, _, _ := e.run(ctx, "logs", "events", "/postern/events", stream, "-o", "json")
		return out
	}
	waitFor(ctx, t, "the key's state change in /postern/events", func() bool {
		k := kinds("postern.kms")
		return strings.Contains(k, `KMS Key State Change`) && strings.Contains(k, `\"keyState\":\"Disabled\"`) && strings.Contains(k, keyID)
	})
	// Deregistered: gone from the nodes, its agent refused from then on.
	e.mustRun(ctx, "nodes", "deregister", "prod-1")
	var ns []api.Node
	e.jsonOut(ctx, &ns, "nodes")
	for _, n := range ns {
		if n.Name == "prod-1" {
			t.Errorf("prod-1 is still listed after deregister: %+v", n)
		}
	}
	e.mustFail([]string{"exec", "prod-1", "--", "true"}, "prod-1")
	e.mustFail([]string{"nodes", "deregister", "prod-1"}, "prod-1")
	var nodes string
	waitFor(ctx, t, "the node's Deregistered event", func() bool {
		nodes = kinds("postern.nodes")
		return strings.Contains(nodes, `\"state\":\"Deregistered\"`)
	})
	for _, want := range []string{`\"state\":\"Registered\"`, `\"state\":\"Online\"`, `\"name\":\"prod-1\"`} {
		if !strings.Contains(nodes, want) {
			t.Errorf("node events lack %s:\n%s", want, nodes)
		}
	}
}

// TestIdleRuleRunsCommand is the README's automation: a rule on sessions
// terminated for idleness runs a command on the nodes tagged env=prod,
// as the user who put the rule; the command's result says it ran there.
func TestIdleRuleRunsCommand(t *testing.T) {
	t.Parallel() // a minute of idleness: let the rest run meanwhile
	ctx := testCtx(t)
	e := startDev(t)
	ids := e.addAgents(ctx, "env=prod", "prod-1", "prod-2")
	prefs := writeFile(t, "prefs.json", `{"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {"idleSessionTimeout": "1"}}`)
	e.mustRun(ctx, "prefs", "set", "-f", prefs)
	pattern := writeFile(t, "idle.json", `{"source": ["postern.sessions"], "detail-type": ["Session State Change"],
		"detail": {"state": ["Terminated"], "reason": ["IdleTimeout"]}}`)
	targets := writeFile(t, "cleanup.json", `[{"id": "cleanup", "runCommand": {"documentName": "AWS-RunShellScript",
		"parameters": {"commands": ["echo cleaned up on $AWS_SSM_INSTANCE_ID"]},
		"targets": [{"key": "tag:env", "values": ["prod"]}], "maxConcurrency": "1", "maxErrors": "0"}}]`)
	e.mustFail([]string{"events", "rules", "put", "idle-cleanup", "--pattern-file", pattern, "--targets-file",
		writeFile(t, "bad.json", `[{"id": "x", "runCommand": {"documentName": "AWS-RunShellScript", "targets": [{"key": "tag:", "values": []}]}}]`)}, "targets[0].runCommand.targets[0]")
	e.mustRun(ctx, "events", "rules", "put", "idle-cleanup", "--pattern-file", pattern, "--targets-file", targets)
	var rules []api.Rule
	e.jsonOut(ctx, &rules, "events", "rules", "ls")
	if len(rules) != 1 || rules[0].Targets[0].RunAs != "admin" {
		t.Errorf("the rule's target runs as %+v, want admin (who put it)", rules)
	}

	// A session nobody types in: ended for idleness after a minute.
	e.run(ctx, "exec", hostname(t), "--", "sleep", "600")
	idled := false
	for _, sess := range e.sessions(ctx) {
		idled = idled || sess.StatusReason == "IdleTimeout"
	}
	if !idled {
		t.Fatalf("no session ended for idleness: %+v", e.sessions(ctx))
	}
	var cmds []api.Command
	waitFor(ctx, t, "the rule's command on the prod nodes", func() bool {
		e.jsonOut(ctx, &cmds, "run", "ls")
		return len(cmds) == 1 && cmds[0].Status == "Success"
	})
	if !strings.HasPrefix(cmds[0].Comment, "rule idle-cleanup, event ") || cmds[0].Owner != "admin" || cmds[0].TargetCount != 2 {
		t.Errorf("the rule's command: %+v", cmds[0])
	}
	var c api.Command
	e.jsonOut(ctx, &c, "run", "show", cmds[0].ID)
	for name, id := range ids {
		in := byNode(c)[id]
		if in.Status != "Success" || in.StandardOutputContent != "cleaned up on "+id+"\n" {
			t.Errorf("%s: %+v", name, in)
		}
	}
}
