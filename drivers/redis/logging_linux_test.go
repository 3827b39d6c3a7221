package redis_test

import (
	"io"
	"os"
	"syscall"
	"testing"
)

// TestClientLoggerNotOnStderr: with SlogLogger set, a failed dial writes
// nothing to the process's standard error (file descriptor 2, where
// go-redis's default logger writes).
func TestClientLoggerNotOnStderr(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	got := failDial(t)
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(saved)
	if got == "" {
		t.Error("the slog handler got nothing")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0 {
		t.Errorf("standard error got %q", b)
	}
}
