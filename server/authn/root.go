package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// ErrInitialized refuses to create a second project.
var ErrInitialized = errors.New("already initialized: this database holds a project")

// InitProject creates the project of a new deployment with a root access key
// (Project Admin) and returns the credential, the only time it is ever shown.
// It refuses with ErrInitialized when the database already holds a project,
// also when another process created it at the same moment.
func InitProject(ctx context.Context, db *ent.Client, displayName string) (credential string, err error) {
	return inTx(ctx, db, func(ctx context.Context, tx *ent.Tx, now time.Time) (string, error) {
		if err := store.LockProjects(ctx, tx); err != nil {
			return "", err
		}
		n, err := tx.Project.Query().Count(ctx)
		if err != nil {
			return "", fmt.Errorf("count projects: %w", err)
		}
		if n > 0 {
			return "", ErrInitialized
		}
		projectID := store.NewID()
		if err := tx.Project.Create().SetID(projectID).SetDisplayName(displayName).
			SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
			return "", fmt.Errorf("create project: %w", err)
		}
		cred, keyID, err := rootKey(ctx, tx, projectID, "root", "", now)
		if err != nil {
			return "", err
		}
		return cred, audit.RecordCommand(ctx, tx, projectID, "identityd init", keyID, now)
	})
}

// RecoverProject gives an operator with access to the store a new root key
// (Project Admin) of the deployment's project, named and marked as
// recovered (created_by "identityd recover", listed with the other keys),
// and returns its credential, shown only this once. It is the way back in
// when every admin key is lost; the API itself never lets the last one go.
func RecoverProject(ctx context.Context, db *ent.Client) (credential, keyID string, err error) {
	credential, err = inTx(ctx, db, func(ctx context.Context, tx *ent.Tx, now time.Time) (string, error) {
		projects, err := tx.Project.Query().IDs(ctx)
		if err != nil {
			return "", fmt.Errorf("read projects: %w", err)
		}
		if len(projects) != 1 {
			return "", fmt.Errorf("this database holds %d projects, not one: run identityd init first", len(projects))
		}
		var cred string
		cred, keyID, err = rootKey(ctx, tx, projects[0], "recovered "+now.Format(time.RFC3339), "identityd recover", now)
		if err != nil {
			return "", err
		}
		return cred, audit.RecordCommand(ctx, tx, projects[0], "identityd recover", keyID, now)
	})
	return credential, keyID, err
}

// rootKey creates a Project Admin key and returns its credential and id.
func rootKey(ctx context.Context, tx *ent.Tx, projectID, name, createdBy string, now time.Time) (cred, keyID string, err error) {
	keyID, key, hash, err := NewAccessKey()
	if err != nil {
		return "", "", err
	}
	if err := tx.AccessKey.Create().SetID(keyID).SetProjectID(projectID).SetName(name).SetCreatedBy(createdBy).
		SetSecretHash(hash).SetRoleBindings([]schema.RoleBinding{{Role: authz.RoleProjectAdmin}}).
		SetCreateTime(now).Exec(ctx); err != nil {
		return "", "", fmt.Errorf("create root key: %w", err)
	}
	return FormatCredential(projectID, key), keyID, nil
}

// inTx runs fn in one system-scoped transaction.
func inTx(ctx context.Context, db *ent.Client, fn func(context.Context, *ent.Tx, time.Time) (string, error)) (out string, err error) {
	ctx = scope.System(ctx)
	tx, err := db.Tx(ctx)
	if err != nil {
		return "", fmt.Errorf("begin: %w", err)
	}
	if out, err = fn(ctx, tx, store.Now(time.Now)); err != nil {
		_ = tx.Rollback()
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return out, nil
}
