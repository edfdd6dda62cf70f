package devrun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/testenv"
)

// TestSampleEvents invokes every function of template.yaml with every sample
// in events/ that is shaped for it, as make invoke does, under the Runtime
// Interface Emulator against the engines: none may fail or answer 5xx.
func TestSampleEvents(t *testing.T) {
	testenv.AWS(t)
	name := testenv.Name("samples")
	out := &testenv.SyncBuffer{}
	rt, err := Start(context.Background(), Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: out,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	defer rt.Close()
	routes := map[string]string{}
	for _, r := range rt.Template().Routes {
		routes[r.Method+" "+r.Path] = r.Function
	}
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	// Samples that create subscriptions go first, so that a sample naming
	// one (events/replay-start-subscription.json) finds it.
	slices.SortStableFunc(files, func(a, b string) int {
		ca, cb := strings.HasPrefix(filepath.Base(a), "subscriptions-create"), strings.HasPrefix(filepath.Base(b), "subscriptions-create")
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return 0
	})
	covered := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			payload, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var shape struct {
				RouteKey string            `json:"routeKey"`
				Records  []json.RawMessage `json:"Records"`
				Replay   string            `json:"flowbus_replay"`
				Source   string            `json:"source"`
			}
			if err := json.Unmarshal(payload, &shape); err != nil {
				t.Fatal(err)
			}
			var fn string
			switch {
			case shape.RouteKey != "":
				fn = routes[shape.RouteKey]
			case len(shape.Records) > 0:
				var rec struct {
					EventSource string `json:"eventSource"`
				}
				_ = json.Unmarshal(shape.Records[0], &rec)
				fn = "ConsumeFunction"
				// Another function on the stream takes the sample named for
				// its directory (events/route.json: functions/route).
				for id, f := range rt.Template().Functions {
					if len(f.Kinesis) > 0 && filepath.Base(f.CodeURI)+".json" == filepath.Base(file) {
						fn = id
					}
				}
				if rec.EventSource == "aws:sqs" {
					// An SQS sample is named for the function's directory
					// (events/deliver.json: functions/deliver).
					fn = ""
					for id, f := range rt.Template().Functions {
						if len(f.SQS) > 0 && filepath.Base(f.CodeURI)+".json" == filepath.Base(file) {
							fn = id
						}
					}
				}
			case shape.Replay != "":
				fn = "ReplayFunction"
			case shape.Source == "aws.events":
				for id, f := range rt.Template().Functions {
					if len(f.Schedules) > 0 {
						fn = id
					}
				}
			}
			if fn == "" {
				t.Fatalf("no function of the template takes this sample (route %q)", shape.RouteKey)
			}
			covered[fn] = true
			res, err := rt.functions[fn].Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			if res.FunctionError != "" {
				t.Fatalf("%s: function error %s: %s\n%s", fn, res.FunctionError, res.Payload, res.Logs)
			}
			if shape.RouteKey != "" {
				var resp struct {
					StatusCode int    `json:"statusCode"`
					Body       string `json:"body"`
				}
				if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode == 0 || resp.StatusCode >= 500 {
					t.Fatalf("%s answered %s", fn, res.Payload)
				}
				if strings.HasPrefix(shape.RouteKey, "POST") && resp.StatusCode >= 400 {
					t.Errorf("%s refused its own sample: %d %s", fn, resp.StatusCode, resp.Body)
				}
			}
		})
	}
	for id := range rt.Template().Functions {
		if !covered[id] {
			t.Errorf("no sample in events/ for %s", id)
		}
	}
}
