package devrun

import (
	"os"
	"path/filepath"
	"testing"
)

// A restarted make dev serves its issuer where the last one did, so the
// tokens it gave out stay valid; a taken address falls back to a free one.
func TestIssuerKeepsItsAddress(t *testing.T) {
	dir := t.TempDir()
	first, err := listenIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := first.Addr().String()
	if err := os.WriteFile(filepath.Join(dir, IssuerFile), []byte("http://"+addr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := listenIssuer(dir) // the first still listens
	if err != nil {
		t.Fatal(err)
	}
	if taken.Addr().String() == addr {
		t.Errorf("got the taken address %s", addr)
	}
	taken.Close()
	first.Close()
	again, err := listenIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Addr().String(); got != addr {
		t.Errorf("restarted on %s, want the last address %s", got, addr)
	}
}
