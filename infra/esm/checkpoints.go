package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
)

// MemoryCheckpoints keeps checkpoints in memory, for tests and for a runtime
// that need not survive a restart. It is safe for concurrent use.
type MemoryCheckpoints struct {
	mu  sync.Mutex
	seq map[string]string
}

// NewMemoryCheckpoints returns an empty store.
func NewMemoryCheckpoints() *MemoryCheckpoints {
	return &MemoryCheckpoints{seq: map[string]string{}}
}

// Load returns the checkpoint saved under key.
func (c *MemoryCheckpoints) Load(_ context.Context, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, ok := c.seq[key]
	if !ok {
		return "", fmt.Errorf("load %s: %w", key, ErrNoCheckpoint)
	}
	return seq, nil
}

// Save sets the checkpoint under key.
func (c *MemoryCheckpoints) Save(_ context.Context, key, seq string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq[key] = seq
	return nil
}

// All returns a copy of every checkpoint.
func (c *MemoryCheckpoints) All() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.seq)
}

// FileCheckpoints keeps checkpoints in a JSON file (an object of key to
// sequence number), so a restarted runtime resumes where it stopped. Every
// Save rewrites the file atomically: a temporary file in the same directory,
// synced, then renamed over it. It is safe for concurrent use within one
// process; two processes must not share a file.
type FileCheckpoints struct {
	MemoryCheckpoints // Load and All; Save also writes the file
	path              string
}

// OpenFileCheckpoints reads the checkpoints in path; a missing file is an
// empty store, created on the first Save.
func OpenFileCheckpoints(path string) (*FileCheckpoints, error) {
	c := &FileCheckpoints{MemoryCheckpoints: MemoryCheckpoints{seq: map[string]string{}}, path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	if err := json.Unmarshal(b, &c.seq); err != nil {
		return nil, fmt.Errorf("read checkpoints %s: %w", path, err)
	}
	if c.seq == nil {
		c.seq = map[string]string{}
	}
	return c, nil
}

// Save sets the checkpoint under key and writes the file.
func (c *FileCheckpoints) Save(_ context.Context, key, seq string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.seq[key]
	c.seq[key] = seq
	if err := c.write(); err != nil {
		if had {
			c.seq[key] = old
		} else {
			delete(c.seq, key)
		}
		return fmt.Errorf("save checkpoint %s: %w", key, err)
	}
	return nil
}

func (c *FileCheckpoints) write() error {
	b, err := json.MarshalIndent(c.seq, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}
