package store

import (
	"context"
	"time"

	"github.com/acme/identity/ent"
)

// CheckpointInterval is how often Checkpoint copies SQLite's write-ahead log
// into the database.
const CheckpointInterval = time.Second

// Checkpoint copies SQLite's write-ahead log into the database file; an
// instance on SQLite runs it every CheckpointInterval.
//
// Open turns SQLite's automatic checkpoint off: that one runs inside the
// commit that grows the log past 1,000 pages, so one write in a few hundred
// took about 10 ms longer (the copy and its fsyncs) while holding the write
// lock, and every write of every other tenant queued behind it. A PASSIVE
// checkpoint waits for no reader and no writer: writes go on appending to
// the log while it copies, and the log starts over once a checkpoint has
// copied all of it. A process that opens the database without running this
// (the CLI's commands) checkpoints when it closes its last connection, as
// SQLite always does.
func Checkpoint(ctx context.Context, db *ent.Client) error {
	_, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return err
}
