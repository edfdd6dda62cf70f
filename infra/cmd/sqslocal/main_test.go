package main

import "testing"

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     bool
	}{
		{"127.0.0.1:0", false, false},
		{"127.0.0.1:9324", false, false},
		{"[::1]:0", false, false},
		{"localhost:9324", false, false},
		{"0.0.0.0:9324", false, true},
		{":9324", false, true},
		{"192.168.1.10:9324", false, true},
		{"example.com:9324", false, true},
		{"0.0.0.0:9324", true, false},
		{"no-port", false, true},
	}
	for _, tt := range tests {
		err := checkLoopback(tt.addr, tt.allowRemote)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkLoopback(%q, %v) = %v, want error %v", tt.addr, tt.allowRemote, err, tt.wantErr)
		}
	}
}
