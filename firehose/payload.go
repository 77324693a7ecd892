package firehose

import "encoding/json"

// Payload is one CloudWatch Logs subscription message: what a subscription
// filter hands its destination (gzipped and base64'd for a Lambda
// function, as awslogs.data), and what each line of a delivery stream's
// objects holds.
type Payload struct {
	MessageType         string     `json:"messageType"` // "DATA_MESSAGE"
	Owner               string     `json:"owner"`       // the log group's account
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	LogEvents           []LogEvent `json:"logEvents"`
}

// LogEvent is one event of a Payload.
type LogEvent struct {
	// ID is the event's id in the log store, as a decimal string
	// (CloudWatch's ids are strings too): unique in its group, and
	// increasing, so that a reader can drop what it saw twice.
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"` // the event's time, unix milliseconds
	Message   string `json:"message"`
}

// DataMessage is Payload's MessageType for events.
const DataMessage = "DATA_MESSAGE"

// maxPayloadEvents bounds the events of one Payload, so that one message
// stays well under the 1 MiB of a Firehose record.
const maxPayloadEvents = 1000

// appendPayload appends p as one JSON line.
func appendPayload(dst []byte, p *Payload) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		// Payload holds only strings and numbers: Marshal cannot fail.
		panic(err)
	}
	dst = append(dst, b...)
	return append(dst, '\n')
}
