package gitsrc

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

// MaxFetchBytes bounds the objects one in-memory fetch may hold (reading a
// spec while a webhook waits). A shallow fetch of one commit is far below
// it; a repository that needs more is refused, not buffered.
var MaxFetchBytes int64 = 64 << 20

// ErrTooLarge is returned (wrapped) when a fetch exceeds MaxFetchBytes.
var ErrTooLarge = errors.New("repository too large to read in memory")

// boundedStorage is an in-memory repository that refuses objects beyond
// its limit, so a huge or hostile repository cannot exhaust the server.
type boundedStorage struct {
	*memory.Storage
	used, limit int64
}

func newBoundedStorage() *boundedStorage {
	return &boundedStorage{Storage: memory.NewStorage(), limit: MaxFetchBytes}
}

// SetEncodedObject stores obj unless the limit is reached.
func (s *boundedStorage) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	s.used += obj.Size()
	if s.used > s.limit {
		return plumbing.ZeroHash, fmt.Errorf("%w: more than %d MiB of objects", ErrTooLarge, s.limit>>20)
	}
	return s.Storage.SetEncodedObject(obj)
}
