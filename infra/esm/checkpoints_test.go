package esm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkpointsContract is what every Checkpoints must do.
func checkpointsContract(t *testing.T, newStore func(t *testing.T) Checkpoints) {
	ctx := context.Background()
	t.Run("missing key", func(t *testing.T) {
		c := newStore(t)
		seq, err := c.Load(ctx, "f/s/shard-0")
		if !errors.Is(err, ErrNoCheckpoint) || seq != "" {
			t.Errorf("Load() = %q, %v, want ErrNoCheckpoint", seq, err)
		}
	})
	t.Run("save and load", func(t *testing.T) {
		c := newStore(t)
		for _, seq := range []string{"1", "2", ShardEnd} {
			if err := c.Save(ctx, "f/s/shard-0", seq); err != nil {
				t.Fatal(err)
			}
			got, err := c.Load(ctx, "f/s/shard-0")
			if err != nil || got != seq {
				t.Errorf("Load() = %q, %v, want %q", got, err, seq)
			}
		}
		if _, err := c.Load(ctx, "f/s/shard-1"); !errors.Is(err, ErrNoCheckpoint) {
			t.Errorf("Load(other key) = %v, want ErrNoCheckpoint", err)
		}
	})
	t.Run("concurrent saves", func(t *testing.T) {
		c := newStore(t)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				for j := range 10 {
					if err := c.Save(ctx, fmt.Sprintf("key-%d", i), fmt.Sprint(j)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		for i := range 20 {
			if got, err := c.Load(ctx, fmt.Sprintf("key-%d", i)); err != nil || got != "9" {
				t.Errorf("Load(key-%d) = %q, %v, want 9", i, got, err)
			}
		}
	})
}

func TestMemoryCheckpoints(t *testing.T) {
	checkpointsContract(t, func(*testing.T) Checkpoints { return NewMemoryCheckpoints() })
}

func TestFileCheckpoints(t *testing.T) {
	checkpointsContract(t, func(t *testing.T) Checkpoints {
		c, err := OpenFileCheckpoints(filepath.Join(t.TempDir(), "checkpoints.json"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestFileCheckpointsSurviveReopening(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoints.json")
	c, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, seq := range map[string]string{"f/s/a": "49001", "f/s/b": ShardEnd} {
		if err := c.Save(ctx, key, seq); err != nil {
			t.Fatal(err)
		}
	}
	reopened, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, key := range []string{"f/s/a", "f/s/b"} {
		got[key], err = reopened.Load(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(map[string]string{"f/s/a": "49001", "f/s/b": ShardEnd}, got); diff != "" {
		t.Errorf("reopened mismatch (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the checkpoint file (no temporary files left)", len(entries))
	}
}

func TestFileCheckpointsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileCheckpoints(bad); err == nil {
		t.Error("OpenFileCheckpoints(corrupt file) = nil error, want one")
	}
	c, err := OpenFileCheckpoints(filepath.Join(dir, "missing-dir", "c.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(context.Background(), "k", "1"); err == nil {
		t.Error("Save into a missing directory = nil error, want one")
	}
	if _, err := c.Load(context.Background(), "k"); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Load after a failed Save = %v, want ErrNoCheckpoint", err)
	}
}
