package sqlstore

import (
	"context"
	"errors"
	"time"
)

// checkpointer copies committed WAL frames into the database file from its
// own goroutine. SQLite's automatic checkpoint runs inside the commit that
// takes the log past 1,000 pages, and that commit pays for copying every
// frame not copied yet and for two fsyncs. With this goroutine copying
// every few hundred milliseconds, that commit finds little or nothing
// left. The automatic checkpoint stays on because only a checkpoint run
// between a writer's transactions lets the log restart: under steady
// writes, checkpoints from this goroutine alone let it grow without bound.
// A passive checkpoint waits for no reader or writer.
func (s *Store) checkpointer(ctx context.Context, every time.Duration, done chan<- struct{}) {
	defer close(done)

	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.checkpoint(ctx)
	}
}

// checkpoint runs one passive checkpoint and logs a failure. The next tick
// retries, and the log keeps every frame meanwhile. A checkpoint that
// another process is running makes this one fail with SQLITE_BUSY.
func (s *Store) checkpoint(ctx context.Context) {
	var busy, logFrames, copied int
	err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &copied)
	var coded interface{ Code() int }
	switch {
	case err == nil:
		if busy != 0 {
			s.log.Debug("WAL checkpoint incomplete", "frames", logFrames, "copied", copied)
		}
	case ctx.Err() != nil:
	case errors.As(err, &coded) && coded.Code()&0xff == sqliteBusy:
		s.log.Debug("WAL checkpoint busy", "err", err)
	default:
		s.log.Warn("WAL checkpoint failed", "err", err)
	}
}

// sqliteBusy is SQLite's primary result code SQLITE_BUSY.
const sqliteBusy = 5
