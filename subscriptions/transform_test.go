package subscriptions

import (
	"strings"
	"testing"

	"github.com/postern/postern/api"
)

func TestTransform(t *testing.T) {
	event := []byte(`{"id":"e1","detail-type":"Session State Change","resources":["a","b"],
		"detail":{"state":"Terminated","reason":"IdleTimeout","exitCode":0,"target":{"name":"web-1","tags":{"env":"prod"}}}}`)
	tr := &api.InputTransformer{
		InputPathsMap: map[string]string{"state": "$.detail.state", "node": "$.detail.target.name", "tags": "$.detail.target.tags",
			"second": "$.resources[1]", "code": "$.detail.exitCode", "none": "$.detail.nothing"},
		InputTemplate: `<node> <state> (<aws.events.rule-name>) tags=<tags> second=<second> code=<code> none=<none>`,
	}
	got, err := Transform(event, "idle", tr)
	if want := `web-1 Terminated (idle) tags={"env":"prod"} second=b code=0 none=`; err != nil || got != want {
		t.Errorf("Transform = %q, %v\nwant %q", got, err, want)
	}
	whole, _ := Transform(event, "r", &api.InputTransformer{InputTemplate: "<aws.events.event.json>"})
	if whole != string(event) {
		t.Errorf("<aws.events.event.json> = %q", whole)
	}
	for _, bad := range []string{"detail.state", "$.", "$.a[x]", "$.a[1", "$a"} {
		if _, err := ParseJSONPath(bad); err == nil {
			t.Errorf("ParseJSONPath(%q) took it", bad)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	secret := strings.Repeat("s", 32)
	for _, tc := range []struct {
		t    api.RuleTarget
		want string
	}{
		{api.RuleTarget{ID: "a b", SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:t"}, "targets[0].id"},
		{api.RuleTarget{ID: "a"}, "one of webhook, snsTopicArn and runCommand"},
		{api.RuleTarget{ID: "a", RunCommand: &api.SendCommandRequest{DocumentName: "AWS-RunShellScript"}}, "runCommand: one of instanceIds and targets"},
		{api.RuleTarget{ID: "a", RunCommand: &api.SendCommandRequest{Targets: []api.CommandTarget{{Key: "tag:env", Values: []string{"prod"}}}}}, "runCommand.documentName"},
		{api.RuleTarget{ID: "a", SNSTopicARN: "arn:aws:sqs:us-east-1:123456789012:t"}, "snsTopicArn"},
		{api.RuleTarget{ID: "a", Webhook: &api.HTTPEndpoint{URL: "https://h/", Secret: secret, Format: "awslogs"}}, "json or slack"},
		{api.RuleTarget{ID: "a", SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:t", InputTransformer: &api.InputTransformer{InputTemplate: "<x>"}}, "<x> names no input path"},
		{api.RuleTarget{ID: "a", SNSTopicARN: "arn:aws:sns:us-east-1:123456789012:t", InputTransformer: &api.InputTransformer{InputPathsMap: map[string]string{"x": "detail"}, InputTemplate: "<x>"}}, "inputPathsMap.x"},
	} {
		if err := checkTarget(0, tc.t); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.t, err, tc.want)
		}
	}
	if err := checkTarget(0, api.RuleTarget{ID: "ok", Webhook: &api.HTTPEndpoint{URL: "https://h/", Secret: secret, Format: "slack"}}); err != nil {
		t.Error(err)
	}
}

func FuzzTransform(f *testing.F) {
	f.Add(`{"a":{"b":[1,"x"]}}`, "$.a.b[1]", "<v>!")
	f.Add(`[]`, "$", "<aws.events.event.json>")
	f.Fuzz(func(t *testing.T, event, path, template string) {
		if _, err := ParseJSONPath(path); err != nil {
			return
		}
		Transform([]byte(event), "r", &api.InputTransformer{InputPathsMap: map[string]string{"v": path}, InputTemplate: template})
	})
}
