package worker

import (
	"bytes"
	"debug/elf"
	"errors"
	"log/slog"
	"os"
	"sync"

	sdkworker "go.temporal.io/sdk/worker"
)

// nameBinary tells Temporal which build this worker runs (the binary
// checksum it records with each workflow task, the mark of its reset
// points) once per process: the Go build ID the linker wrote into the
// executable, a hash of what went into it. Without it the SDK reads and
// hashes the whole executable at the first worker's start (~330 MB;
// BenchmarkWorkerStart: 652 → 123 ms from `sluice worker`'s exec to its
// "worker started"). An executable that has no build ID note (not ELF)
// keeps the checksum.
var nameBinary = sync.OnceFunc(func() {
	exe, err := os.Executable()
	if err == nil {
		var id string
		if id, err = goBuildID(exe); err == nil {
			sdkworker.SetBinaryChecksum("go:" + id)
			return
		}
	}
	slog.Debug("the executable's Go build ID is unknown: Temporal's SDK checksums the executable", "error", err)
})

// goBuildID reads the Go build ID from the ELF note the linker writes
// (section .note.go.buildid: owner "Go", type 4), as `go tool buildid`
// prints it.
func goBuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return "", errors.New("no .note.go.buildid section")
	}
	note, err := s.Data()
	if err != nil {
		return "", err
	}
	// namesz, descsz, type; the name "Go\x00" padded to 4 bytes; the ID
	if len(note) < 16 {
		return "", errors.New("short build ID note")
	}
	namesz, descsz, typ := f.ByteOrder.Uint32(note), f.ByteOrder.Uint32(note[4:]), f.ByteOrder.Uint32(note[8:])
	if namesz != 4 || typ != 4 || !bytes.Equal(note[12:16], []byte("Go\x00\x00")) || uint32(len(note)-16) < descsz || descsz == 0 {
		return "", errors.New("malformed build ID note")
	}
	return string(note[16 : 16+descsz]), nil
}
