package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSelectScenarios(t *testing.T) {
	names := func(scs []scenario) []string {
		var out []string
		for _, sc := range scs {
			out = append(out, sc.name)
		}
		return out
	}
	for _, c := range []struct {
		name, only  string
		short       bool
		wantNames   []string
		wantPersist string
	}{
		{name: "short: every fault that needs no engine restart, consume-timeout last", short: true,
			wantNames:   []string{"none", "consume-killed", "dynalite-paused", "putrecords-throttled", "batchwrite-unprocessed", "poison", "redelivered", "consume-timeout"},
			wantPersist: kinesisPersistInterval},
		{name: "a kinesis-mock kill needs its 1 s writes", only: "kinesis",
			wantNames: []string{"kinesis-restarted", "kinesis-killed"}, wantPersist: "1s"},
		{name: "a clean restart does not: the stop writes the state", only: "kinesis-restarted",
			wantNames: []string{"kinesis-restarted"}, wantPersist: kinesisPersistInterval},
		{name: "every fault, engine restarts last", wantPersist: "1s",
			wantNames: []string{"none", "consume-killed", "dynalite-paused", "putrecords-throttled", "batchwrite-unprocessed", "poison", "redelivered", "consume-timeout",
				"dynalite-restarted", "kinesis-restarted", "kinesis-killed"}},
		{name: "dynalite keeps its data without kinesis-mock's writes", only: "dynalite",
			wantNames: []string{"dynalite-paused", "dynalite-restarted"}, wantPersist: kinesisPersistInterval},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, persist := selectScenarios(c.only, c.short)
			if diff := cmp.Diff(c.wantNames, names(got)); diff != "" {
				t.Errorf("faults (-want +got):\n%s", diff)
			}
			if persist != c.wantPersist {
				t.Errorf("persist interval: got %q, want %q", persist, c.wantPersist)
			}
		})
	}
	for _, sc := range scenarios() {
		if sc.consumeTimeout != 0 && sc.name != "consume-timeout" {
			t.Errorf("%s changes the consume Timeout; only consume-timeout should", sc.name)
		}
	}
}

// The timeout fault means something only if the consume function's own
// Timeout in template.yaml is the one set.
func TestSetConsumeTimeout(t *testing.T) {
	b, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	got := setConsumeTimeout(y, 3)
	i := strings.Index(got, "\n  ConsumeFunction:\n")
	end := regexp.MustCompile(`\n  [A-Za-z]`).FindStringIndex(got[i+1:]) // the next resource
	if i < 0 || end == nil {
		t.Fatal("no ConsumeFunction resource in template.yaml")
	}
	if fn := got[i : i+1+end[0]]; !strings.Contains(fn, "\n      Timeout: 3\n") {
		t.Errorf("ConsumeFunction has no Timeout 3 after setConsumeTimeout:\n%s", fn)
	}
	if strings.Count(got, "Timeout: 3\n") != strings.Count(y, "Timeout: 3\n")+1 || len(got) != len(y)-2 {
		t.Errorf("setConsumeTimeout changed more than the consume function's Timeout (120 → 3)")
	}
}
