package lambdarun

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procEntry identifies a process beyond its pid, which the kernel reuses:
// the start time tells a later process with the same pid apart.
type procEntry struct {
	pid, ppid, pgid int
	state           byte
	start           uint64
}

// readProc parses /proc/<pid>/stat. It is Linux only; elsewhere it finds
// nothing and the callers fall back to signalling what they know.
func readProc(pid int) (procEntry, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procEntry{}, false
	}
	// pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
	// majflt cmajflt utime stime cutime cstime priority nice num_threads
	// itrealvalue starttime ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procEntry{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procEntry{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procEntry{pid: pid, ppid: ppid, pgid: pgid, state: f[0][0], start: start}, true
}

// running tells whether p is still the same live (not zombie) process.
func (p procEntry) running() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != 'Z' && now.state != 'X'
}

// kill sends sig to p, and to its group when it leads one, if p is still the
// same process.
func (p procEntry) kill(sig syscall.Signal) {
	if !p.running() {
		return
	}
	if p.pgid == p.pid {
		_ = syscall.Kill(-p.pid, sig)
	}
	_ = syscall.Kill(p.pid, sig)
}

// descendants lists the live processes under pid, children first.
func descendants(pid int) []procEntry {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	byParent := map[int][]procEntry{}
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(n); ok && p.state != 'Z' {
			byParent[p.ppid] = append(byParent[p.ppid], p)
		}
	}
	var out []procEntry
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range byParent[next] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// peakRSSMB is the process's peak resident memory (VmHWM) in MB, rounded
// up, or 0 when it cannot be read.
func peakRSSMB(pid int) int {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err != nil {
			return 0
		}
		return (kb + 1023) / 1024
	}
	return 0
}
