package eventpattern

import "testing"

// The examples of the Amazon EventBridge User Guide: "Creating event
// patterns" (eb-event-patterns), "Comparison operators for use in event
// patterns" (eb-create-pattern-operators, formerly "Content filtering",
// eb-event-patterns-content-based-filtering), "Matching null values and
// empty strings" (eb-event-patterns-null-values) and "Arrays in event
// patterns" (eb-event-patterns-arrays), and of event-ruler's README, which
// documents what the guide leaves out ($or nesting, array consistency).
// Each pattern is listed with events it must match and events it must
// not; where the guide shows only a matching event, the non-matching ones
// change what the guide's sentence says decides the match.

type docCase struct {
	name    string
	pattern string
	match   []string
	noMatch []string
}

func runDocCases(t *testing.T, cases []docCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.pattern))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.pattern, err)
			}
			// The canonical form must mean the same.
			canon, err := Parse([]byte(p.String()))
			if err != nil {
				t.Fatalf("Parse(%s), the canonical form of %s: %v", p.String(), tc.pattern, err)
			}
			check := func(events []string, want bool) {
				for _, e := range events {
					ev, err := DecodeEvent([]byte(e))
					if err != nil {
						t.Fatalf("DecodeEvent(%s): %v", e, err)
					}
					if got := p.Match(ev); got != want {
						t.Errorf("pattern %s\nevent %s\nMatch = %v, want %v; explanation:\n%s", tc.pattern, e, got, want, p.Explain(ev))
					}
					if got := canon.Match(ev); got != want {
						t.Errorf("canonical pattern %s\nevent %s\nMatch = %v, want %v", p.String(), e, got, want)
					}
					if got := p.Explain(ev).Matched; got != want {
						t.Errorf("pattern %s\nevent %s\nExplain().Matched = %v, want %v", tc.pattern, e, got, want)
					}
				}
			}
			check(tc.match, true)
			check(tc.noMatch, false)
		})
	}
}

// The guide's Amazon EC2 state-change event.
const docEC2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": [
    "arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"
  ],
  "detail": {
    "instance-id": "i-1234567890abcdef0",
    "state": "terminated"
  }
}`

// The guide's Auto Scaling event with an empty string and a null.
const docAutoScalingEvent = `{
  "version": "0",
  "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
  "detail-type": "EC2 Instance Launch Successful",
  "source": "aws.autoscaling",
  "account": "123456789012",
  "time": "2015-11-11T21:31:47Z",
  "region": "us-east-1",
  "resources": [],
  "detail": {
    "eventVersion": "",
    "responseElements": null
  }
}`

// event-ruler's README event, which its content-filtering examples match.
const rulerEvent = `{
  "version": "0",
  "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "012345679012",
  "time": "2017-10-02T16:24:49Z",
  "region": "us-east-1",
  "resources": [
    "arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"
  ],
  "detail": {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    "state": "running"
  }
}`

var casesDocsEventPatterns = []docCase{
	{
		name:    "instance termination",
		pattern: `{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}`,
		match:   []string{docEC2Event},
		noMatch: []string{
			`{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {"state": "running"}}`,
			`{"source": "aws.ec2", "detail": {"state": "terminated"}}`,                                                          // detail-type missing
			`{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "state": "terminated"}`,             // not nested in detail
			`{"source": "aws.EC2", "detail-type": "EC2 Instance State-change Notification", "detail": {"state": "terminated"}}`, // no case folding
		},
	},
	{
		name:    "match values: aws.ec2 or aws.fargate",
		pattern: `{"source": ["aws.ec2", "aws.fargate"]}`,
		match:   []string{`{"source": "aws.ec2"}`, `{"source": "aws.fargate"}`},
		noMatch: []string{`{"source": "aws.s3"}`, `{}`},
	},
	{
		name:    "field matching: responseElements is null",
		pattern: `{"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance Launch Successful"], "detail": {"responseElements": [null]}}`,
		match:   []string{docAutoScalingEvent},
		noMatch: []string{
			`{"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful", "detail": {}}`,
			`{"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful", "detail": {"responseElements": ""}}`,
		},
	},
	{
		name:    "value matching: Macie risk score",
		pattern: `{"source": ["aws.macie"], "detail-type": ["Macie Alert"], "detail": {"risk-score": [80], "trigger": {"risk": [8]}}}`,
		match: []string{`{"source": "aws.macie", "detail-type": "Macie Alert", "detail": {
			"notification-type": "ALERT_CREATED", "name": "Scanning bucket policies", "tags": ["Custom_Alert", "Insider"],
			"risk-score": 80, "trigger": {"rule-arn": "arn:aws:macie:us-east-1:123456789012:trigger/trigger_id", "alert-type": "basic", "risk": 8}}}`},
		noMatch: []string{
			`{"source": "aws.macie", "detail-type": "Macie Alert", "detail": {"risk-score": 80, "trigger": {"risk": 7}}}`,
			`{"source": "aws.macie", "detail-type": "Macie Alert", "detail": {"risk-score": "80", "trigger": {"risk": 8}}}`,
		},
	},
}

func TestDocsEventPatterns(t *testing.T) { runDocCases(t, casesDocsEventPatterns) }

var casesDocsNullAndEmpty = []docCase{
	{
		name:    "eventVersion is an empty string",
		pattern: `{"detail": {"eventVersion": [""]}}`,
		match:   []string{docAutoScalingEvent},
		// "Null values and empty strings are not interchangeable."
		noMatch: []string{`{"detail": {"eventVersion": null}}`, `{"detail": {}}`},
	},
	{
		name:    "responseElements is null",
		pattern: `{"detail": {"responseElements": [null]}}`,
		match:   []string{docAutoScalingEvent},
		noMatch: []string{`{"detail": {"responseElements": ""}}`, `{"detail": {}}`, `{}`},
	},
}

func TestDocsNullAndEmpty(t *testing.T) { runDocCases(t, casesDocsNullAndEmpty) }

var casesDocsArrays = []docCase{
	{
		name: "intersection of the pattern's and the event's arrays",
		pattern: `{"resources": [
			"arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
			"arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
			"arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`,
		match: []string{`{"resources": [
			"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
			"arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`},
		noMatch: []string{
			`{"resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate"]}`,
			`{"resources": []}`,
		},
	},
	{
		// event-ruler: "the array structure is crushed out".
		name:    "objects in arrays",
		pattern: `{"employees": {"firstName": ["Anna"]}}`,
		match: []string{
			`{"employees": [{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}, {"firstName": "Peter", "lastName": "Jones"}]}`,
			`{"employees": [[{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}], [{"firstName": "Peter", "lastName": "Jones"}]]}`,
		},
		noMatch: []string{`{"employees": [{"firstName": "John"}, {"firstName": "Peter"}]}`},
	},
	{
		// event-ruler's rulesForJSONEvent: no two matched fields from
		// different elements of the same array.
		name:    "array consistency",
		pattern: `{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}`,
		match:   []string{`{"employees": [{"firstName": "Anna", "lastName": "Jones"}]}`},
		noMatch: []string{
			`{"employees": [{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}, {"firstName": "Peter", "lastName": "Jones"}]}`,
			`{"employees": [[{"firstName": "John", "lastName": "Doe"}, {"firstName": "Anna", "lastName": "Smith"}], [{"firstName": "Peter", "lastName": "Jones"}]]}`,
		},
	},
}

func TestDocsArrays(t *testing.T) { runDocCases(t, casesDocsArrays) }

var casesDocsComparisonOperators = []docCase{
	{
		name:    "and",
		pattern: `{"Location": ["New York"], "Day": ["Monday"]}`,
		match:   []string{`{"Location": "New York", "Day": "Monday"}`},
		noMatch: []string{`{"Location": "New York", "Day": "Tuesday"}`, `{"Location": "New York"}`},
	},
	{
		name:    "prefix",
		pattern: `{"time": [{"prefix": "2017-10-02"}]}`,
		match:   []string{`{"time": "2017-10-02T18:43:48Z"}`, rulerEvent, `{"time": "2017-10-02"}`},
		noMatch: []string{`{"time": "2017-10-03T18:43:48Z"}`, `{"time": "x2017-10-02"}`, `{"time": 20171002}`},
	},
	{
		name:    "prefix: Auto Scaling events from European regions",
		pattern: `{"source": ["aws.autoscaling"], "region": [{"prefix": "eu-"}]}`,
		match:   []string{`{"source": "aws.autoscaling", "region": "eu-west-1"}`},
		noMatch: []string{`{"source": "aws.autoscaling", "region": "us-east-1"}`, `{"source": "aws.autoscaling", "region": "EU-west-1"}`},
	},
	{
		name:    "prefix ignoring case",
		pattern: `{"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}`,
		match:   []string{`{"service": "EventBridge"}`, `{"service": "EVENTBRIDGE"}`, `{"service": "eventbridge"}`},
		noMatch: []string{`{"service": "Event Bridge"}`, `{"service": "venTBridge"}`},
	},
	{
		name:    "suffix",
		pattern: `{"FileName": [{"suffix": ".png"}]}`,
		match:   []string{`{"FileName": "image.png"}`, `{"FileName": ".png"}`},
		noMatch: []string{`{"FileName": "image.PNG"}`, `{"FileName": "image.png.txt"}`},
	},
	{
		name:    "suffix ignoring case",
		pattern: `{"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}`,
		match:   []string{`{"FileName": "image.png"}`, `{"FileName": "image.PNG"}`, `{"FileName": "image.Png"}`},
		noMatch: []string{`{"FileName": "image.jpg"}`},
	},
	{
		name:    "suffix ignoring case: service ends with tbridge",
		pattern: `{"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}`,
		match:   []string{`{"service": "EventBridge"}`, `{"service": "EVENTBRIDGE"}`},
		noMatch: []string{`{"service": "EventBridges"}`},
	},
	{
		name:    "equals ignoring case",
		pattern: `{"Name": [{"equals-ignore-case": "alice"}]}`,
		match:   []string{`{"Name": "Alice"}`, `{"Name": "ALICE"}`, `{"Name": "alice"}`},
		noMatch: []string{`{"Name": "Alicia"}`, `{"Name": "alice "}`},
	},
	{
		name:    "equals ignoring case: detail-type",
		pattern: `{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}`,
		match:   []string{docEC2Event},
		noMatch: []string{docAutoScalingEvent},
	},
	{
		name:    "anything-but a string",
		pattern: `{"detail": {"state": [{"anything-but": "initializing"}]}}`,
		match:   []string{rulerEvent, `{"detail": {"state": "INITIALIZING"}}`},
		noMatch: []string{`{"detail": {"state": "initializing"}}`, `{"detail": {}}`},
	},
	{
		name:    "anything-but a number",
		pattern: `{"detail": {"x-limit": [{"anything-but": 123}]}}`,
		match:   []string{rulerEvent, `{"detail": {"x-limit": 124}}`},
		noMatch: []string{`{"detail": {"x-limit": 123}}`, `{"detail": {"x-limit": 1.23e2}}`},
	},
	{
		name:    "anything-but a list of strings",
		pattern: `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`,
		match:   []string{rulerEvent},
		noMatch: []string{`{"detail": {"state": "stopped"}}`, `{"detail": {"state": "overloaded"}}`},
	},
	{
		name:    "anything-but a list of numbers",
		pattern: `{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}`,
		match:   []string{rulerEvent, `{"detail": {"x-limit": 150}}`},
		noMatch: []string{`{"detail": {"x-limit": 100}}`, `{"detail": {"x-limit": 300}}`, `{"detail": {"x-limit": 3.0e2}}`},
	},
	{
		name:    "anything-but a prefix",
		pattern: `{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}`,
		match:   []string{rulerEvent, `{"detail": {"state": "Initializing"}}`},
		noMatch: []string{`{"detail": {"state": "initializing"}}`, `{"detail": {"state": "init"}}`},
	},
	{
		name:    "anything-but a prefix: region not in the US",
		pattern: `{"Region": [{"anything-but": {"prefix": "us-"}}]}`,
		match:   []string{`{"Region": "eu-west-1"}`},
		noMatch: []string{`{"Region": "us-east-1"}`},
	},
	{
		name:    "anything-but a suffix",
		pattern: `{"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}`,
		match:   []string{`{"detail": {"FileName": "notes.md"}}`, `{"detail": {"FileName": "notes.TXT"}}`},
		noMatch: []string{`{"detail": {"FileName": "notes.txt"}}`},
	},
	{
		name:    "anything-but ignoring case",
		pattern: `{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}}`,
		match:   []string{rulerEvent},
		noMatch: []string{`{"detail": {"state": "stopped"}}`, `{"detail": {"state": "OVERLOADED"}}`},
	},
	{
		name:    "anything-but ignoring case, one string",
		pattern: `{"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}`,
		match:   []string{`{"state": "running"}`},
		noMatch: []string{`{"state": "INITIALIZING"}`, `{"state": "Initializing"}`},
	},
	{
		name:    "anything-but a wildcard",
		pattern: `{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}`,
		match:   []string{`{"FilePath": "/usr/bin/env"}`, `{"FilePath": "lib/x"}`},
		noMatch: []string{`{"FilePath": "/usr/lib/libc.so"}`},
	},
	{
		name:    "anything-but a list of wildcards",
		pattern: `{"detail": {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "*/bin/*"]}}]}}`,
		match:   []string{`{"detail": {"FilePath": "/etc/hosts"}}`},
		noMatch: []string{`{"detail": {"FilePath": "/usr/lib/libc.so"}}`, `{"detail": {"FilePath": "/usr/bin/env"}}`},
	},
	{
		name:    "numeric",
		pattern: `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}`,
		match:   []string{rulerEvent},
		noMatch: []string{
			`{"detail": {"c-count": 0, "d-count": 3, "x-limit": 301.8}}`,
			`{"detail": {"c-count": 6, "d-count": 3, "x-limit": 301.8}}`,
			`{"detail": {"c-count": 5, "d-count": 10, "x-limit": 301.8}}`,
			`{"detail": {"c-count": 5, "d-count": 3, "x-limit": 301.9}}`,
			`{"detail": {"c-count": "5", "d-count": 3, "x-limit": 301.8}}`,
		},
	},
	{
		name:    "numeric: price is 100",
		pattern: `{"Price": [{"numeric": ["=", 100]}]}`,
		match:   []string{`{"Price": 100}`, `{"Price": 100.0}`, `{"Price": 1e2}`},
		noMatch: []string{`{"Price": 100.5}`, `{"Price": "100"}`},
	},
	{
		name:    "numeric: more than 10 and at most 20",
		pattern: `{"Price": [{"numeric": [">", 10, "<=", 20]}]}`,
		match:   []string{`{"Price": 10.000001}`, `{"Price": 20}`},
		noMatch: []string{`{"Price": 10}`, `{"Price": 20.000001}`},
	},
	{
		name:    "IP address",
		pattern: `{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}`,
		match:   []string{`{"detail": {"sourceIPAddress": "10.0.0.0"}}`, `{"detail": {"sourceIPAddress": "10.0.0.255"}}`},
		noMatch: []string{`{"detail": {"sourceIPAddress": "10.0.1.0"}}`, `{"detail": {"sourceIPAddress": "11.0.0.1"}}`, `{"detail": {"sourceIPAddress": "host"}}`},
	},
	{
		name:    "IP address: event-ruler's source-ip",
		pattern: `{"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}`,
		match:   []string{rulerEvent},
	},
	{
		name:    "IPv6 address",
		pattern: `{"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}`,
		match:   []string{`{"detail": {"sourceIPAddress": "2001:db8::1"}}`, `{"detail": {"sourceIPAddress": "2001:DB8:ffff::"}}`},
		noMatch: []string{`{"detail": {"sourceIPAddress": "2001:db9::1"}}`, `{"detail": {"sourceIPAddress": "10.0.0.1"}}`},
	},
	{
		name:    "exists",
		pattern: `{"detail": {"state": [{"exists": true}]}}`,
		match: []string{`{
			"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification",
			"source": "aws.ec2", "account": "123456789012", "time": "2015-11-11T21:29:54Z", "region": "us-east-1",
			"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
			"detail": {"instance-id": "i-abcd1111", "state": "pending"}}`},
		noMatch: []string{`{
			"detail-type": ["EC2 Instance State-change Notification"],
			"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
			"detail": {"c-count": {"c1": 100}}}`},
	},
	{
		name:    "does not exist, and exists works on leaves only",
		pattern: `{"detail": {"c-count": [{"exists": false}]}}`,
		match: []string{
			`{"detail-type": ["EC2 Instance State-change Notification"],
			  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
			  "detail": {"state": ["initializing", "running"]}}`,
			// "also matches ... because c-count isn't a leaf node"
			`{"detail-type": ["EC2 Instance State-change Notification"],
			  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
			  "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}}`,
		},
		noMatch: []string{rulerEvent, `{"detail": {"c-count": null}}`},
	},
	{
		name:    "exists: ProductName",
		pattern: `{"ProductName": [{"exists": true}]}`,
		match:   []string{`{"ProductName": "Widget"}`, `{"ProductName": null}`, `{"ProductName": ""}`},
		noMatch: []string{`{"productName": "Widget"}`, `{"ProductName": {"id": 1}}`},
	},
	{
		name:    "wildcard",
		pattern: `{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}`,
		match:   []string{`{"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}`},
		noMatch: []string{`{"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}`},
	},
	{
		name:    "wildcard: any file with a .png extension in the folder dir",
		pattern: `{"FileName": [{"wildcard": "dir/*.png"}]}`,
		match:   []string{`{"FileName": "dir/image.png"}`, `{"FileName": "dir/.png"}`, `{"FileName": "dir/sub/image.png"}`},
		noMatch: []string{`{"FileName": "other/image.png"}`, `{"FileName": "dir/image.jpg"}`},
	},
	{
		name:    "wildcard: Simple*Service",
		pattern: `{"source": [{"wildcard": "Simple*Service"}]}`,
		match:   []string{`{"source": "SimpleService"}`, `{"source": "SimpleQueueService"}`},
		noMatch: []string{`{"source": "SimpleServices"}`, `{"source": "simpleservice"}`},
	},
	{
		name:    "or: values of one field",
		pattern: `{"PaymentType": ["Credit", "Debit"]}`,
		match:   []string{`{"PaymentType": "Credit"}`, `{"PaymentType": "Debit"}`},
		noMatch: []string{`{"PaymentType": "Cash"}`},
	},
	{
		name:    "or: $or across fields",
		pattern: `{"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}`,
		match:   []string{`{"Location": "New York", "Day": "Sunday"}`, `{"Location": "Boston", "Day": "Monday"}`},
		noMatch: []string{`{"Location": "Boston", "Day": "Sunday"}`},
	},
	{
		name:    "complex example",
		pattern: `{"time": [{"prefix": "2017-10-02"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"anything-but": [100, 200, 300]}], "source-ip": [{"cidr": "10.0.0.0/8"}]}}`,
		match:   []string{rulerEvent},
		noMatch: []string{`{"time": "2017-10-02T16:24:49Z", "detail": {"state": "running", "c-count": 5, "d-count": 3, "x-limit": 300, "source-ip": "10.0.0.33"}}`},
	},
	{
		// "If you include a key more than once the last reference will
		// be the one used."
		name:    "a key given twice",
		pattern: `{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}`,
		match:   []string{`{"detail": {"location": "eu-west"}}`},
		noMatch: []string{`{"detail": {"location": "us-east"}}`},
	},
}

func TestDocsComparisonOperators(t *testing.T) { runDocCases(t, casesDocsComparisonOperators) }

var casesDocsOr = []docCase{
	{
		name:    "$or in detail",
		pattern: `{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}, {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}}`,
		match:   []string{rulerEvent, `{"detail": {"c-count": 9, "d-count": 9}}`, `{"detail": {"x-limit": 301.8}}`},
		noMatch: []string{`{"detail": {"c-count": 9, "d-count": 10, "x-limit": 1}}`, `{"c-count": 1}`},
	},
	{
		name:    "normal or: source and (metricName or namespace)",
		pattern: `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}`,
		match:   []string{`{"source": "aws.cloudwatch", "metricName": "ReadLatency"}`, `{"source": "aws.cloudwatch", "namespace": "AWS/ES"}`},
		noMatch: []string{`{"source": "aws.ec2", "metricName": "ReadLatency"}`, `{"source": "aws.cloudwatch", "namespace": "AWS/S3"}`},
	},
	{
		name: "parallel or",
		pattern: `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
			"detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]}}`,
		match:   []string{`{"namespace": "AWS/EC2", "detail": {"detail-type": "CloudWatch Alarm State Change"}}`},
		noMatch: []string{`{"namespace": "AWS/EC2", "detail": {"source": "aws.ec2"}}`, `{"namespace": "AWS/S3", "detail": {"source": "aws.cloudwatch"}}`},
	},
	{
		name: "or with an and inside",
		pattern: `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
			{"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"]}, {"scope": ["Service"]}]}`,
		match:   []string{`{"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"}`, `{"source": "aws.cloudwatch", "scope": "Service"}`},
		noMatch: []string{`{"source": "aws.cloudwatch", "metricType": "MetricType"}`, `{"source": "aws.cloudwatch", "namespace": "AWS/EC2"}`},
	},
	{
		name: "nested or and and",
		pattern: `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
			{"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
			{"scope": ["Service"]}]}`,
		match:   []string{`{"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES", "spaceId": 1000}`},
		noMatch: []string{`{"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES", "spaceId": 1001}`},
	},
}

func TestDocsOr(t *testing.T) { runDocCases(t, casesDocsOr) }
