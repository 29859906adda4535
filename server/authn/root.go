package authn

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// InitProject creates the project of a new deployment with a root access key
// (Project Admin) and returns the credential, the only time it is ever shown.
// It refuses when the database already holds a project.
func InitProject(ctx context.Context, db *ent.Client, displayName string) (credential string, err error) {
	ctx = scope.System(ctx)
	tx, err := db.Tx(ctx)
	if err != nil {
		return "", fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	n, err := tx.Project.Query().Count(ctx)
	if err != nil {
		return "", fmt.Errorf("count projects: %w", err)
	}
	if n > 0 {
		return "", fmt.Errorf("already initialized: this database holds a project")
	}
	now := store.Now(time.Now)
	projectID := store.NewID()
	if err := tx.Project.Create().SetID(projectID).SetDisplayName(displayName).
		SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create project: %w", err)
	}
	keyID, key, hash, err := NewAccessKey()
	if err != nil {
		return "", err
	}
	if err := tx.AccessKey.Create().SetID(keyID).SetProjectID(projectID).SetName("root").
		SetSecretHash(hash).SetRoleBindings([]schema.RoleBinding{{Role: authz.RoleProjectAdmin}}).
		SetCreateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create root key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return FormatCredential(projectID, key), nil
}
