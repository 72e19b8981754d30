package eddy

import (
	"errors"

	"github.com/eddy-realtime/eddy/protocol"
)

// Sentinels for records. Those with a catalogue code match an *Error with
// that code (errors.Is), whether the server or the client produced it.
var (
	// ErrRecordNotFound matches RecordNotFound: Snapshot of a record that
	// does not exist.
	ErrRecordNotFound = errors.New("eddy: record not found")
	// ErrVersionConflict matches VersionExists and InvalidVersion: a write
	// lost a race with a concurrent one and the merge strategy kept the
	// other (or could not merge).
	ErrVersionConflict = errors.New("eddy: version conflict")
	// ErrInvalidPath matches InvalidPath: a record path that does not follow
	// the path grammar (see docs/protocol.md), or an erase of the whole
	// document.
	ErrInvalidPath = errors.New("eddy: invalid record path")
	// ErrInvalidDocument matches InvalidDocument: a whole record that is not
	// a JSON object or array.
	ErrInvalidDocument = errors.New("eddy: record must be a JSON object or array")
	// ErrStorage matches StorageError: the server could not make a write
	// durable.
	ErrStorage = errors.New("eddy: storage error")

	// ErrRecordDeleted is returned by the methods of a record handle once
	// the record was deleted (by this client or another).
	ErrRecordDeleted = errors.New("eddy: record deleted")
	// ErrRecordDiscarded is returned by the methods of a handle after its
	// Discard, and by writes still queued when the last handle of a record
	// is discarded.
	ErrRecordDiscarded = errors.New("eddy: record handle discarded")
	// ErrNoName is returned by the writes of an AnonymousRecord that has
	// not been given a name yet.
	ErrNoName = errors.New("eddy: anonymous record has no name")
	// ErrWriteQueueFull is returned by a record write when MaxQueuedWrites
	// writes of that record already wait for the connection or for a
	// conflict to be resolved.
	ErrWriteQueueFull = errors.New("eddy: too many record writes waiting")
)

func init() {
	for code, err := range map[protocol.Code]error{
		protocol.CodeRecordNotFound:  ErrRecordNotFound,
		protocol.CodeVersionExists:   ErrVersionConflict,
		protocol.CodeInvalidVersion:  ErrVersionConflict,
		protocol.CodeInvalidPath:     ErrInvalidPath,
		protocol.CodeInvalidDocument: ErrInvalidDocument,
		protocol.CodeStorageError:    ErrStorage,
	} {
		if _, taken := sentinels[code]; !taken {
			sentinels[code] = err
		}
	}
}
