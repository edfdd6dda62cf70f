package devrun

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bootstrapsUnder lists the pids of the running bootstraps of function
// whose binaries are under runDir.
func bootstrapsUnder(t *testing.T, runDir, function string) []int {
	t.Helper()
	want := filepath.Join(function, "bootstrap")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		if len(args) > 0 && strings.HasPrefix(args[0], runDir) && strings.HasSuffix(args[0], want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestIdleFunctionsKilled: every bootstrap of the functions on the
// delivery path (publish, consume, route, deliver) killed (kill -9) while
// idle between invocations. The next invocations go on at once on fresh
// execution environments, as on Lambda, which retires a dead one: no
// invocation fails for it, and everything published after the kill is
// delivered in order. (lambdarun's TestRuntimeKilledWhileIdle is the
// environment's own case: RIE answered Runtime.ExitError to the next
// invocation of a runtime killed while idle.)
func TestIdleFunctionsKilled(t *testing.T) {
	e := newPackEnv(t, "idlekill", "../../template.yaml")
	r := newPackReceiver(t, 5)
	e.subscribePack(r, "idle", `{"type":["idle.step"]}`, "")
	want := e.packLoad("il", "idle.step", 2, []int{3, 3, 3, 3, 3, 3})
	e.waitFor("the first load delivered", func() bool { return len(r.deliveries()) >= count(want) })
	e.settle()

	killed := 0
	for _, fn := range []string{"PublishFunction", "ConsumeFunction", "RouteFunction", "DeliverFunction"} {
		pids := bootstrapsUnder(t, e.opts.RunDir, fn)
		if len(pids) == 0 {
			t.Fatalf("no %s bootstrap found under the run dir", fn)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	t.Logf("killed %d idle bootstraps", killed)
	time.Sleep(200 * time.Millisecond)
	before := len(e.out.String())

	more := e.packLoadFrom("il", "idle.step", 2, 2, []int{3, 3, 3, 3, 3, 3})
	for wf, ids := range more {
		want[wf] = append(want[wf], ids...)
	}
	began := time.Now()
	deadline := began.Add(60 * time.Second) // far below the 300 s a failed batch waits
	for len(r.deliveries()) < count(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the second load delivered %s after its publish", time.Since(began).Round(time.Millisecond))
	if diff := cmp.Diff(want, byWorkflow(r.deliveries())); diff != "" {
		t.Errorf("deliveries after the kill (-want +got):\n%s", diff)
	}
	for _, line := range strings.Split(e.out.String()[before:], "\n") {
		if strings.HasPrefix(line, "invoke") && !strings.HasSuffix(line, " ok") {
			t.Errorf("an invocation after the kill failed: %s", line)
		}
	}
}
