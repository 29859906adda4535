package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	ProjectID string
	KeyID     string
	// Root keys hold every permission of their project.
	Root bool
}

type principalKey struct{}

// principalFrom returns the caller; the authentication interceptor guarantees
// one on every method that reaches a service.
func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Access key format: `<ProjectID>:<KeyID>.<Secret>`. The key id locates the row;
// the secret (32 random bytes, base64url) is checked against its stored
// SHA-256 in constant time.
const (
	keyIDBytes     = 16
	keySecretBytes = 32
)

// NewAccessKey returns a fresh key id, the secret part of the credential and
// the hash to store. The secret is never stored.
func NewAccessKey() (id, secret string, hash []byte, err error) {
	b := make([]byte, keyIDBytes+keySecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("random: %w", err)
	}
	id = hex.EncodeToString(b[:keyIDBytes])
	secret = base64.RawURLEncoding.EncodeToString(b[keyIDBytes:])
	sum := sha256.Sum256([]byte(secret))
	return id, id + "." + secret, sum[:], nil
}

// FormatCredential joins a project id and an access key as callers present them.
func FormatCredential(projectID, accessKey string) string {
	return projectID + ":" + accessKey
}

// parseCredential splits `<ProjectID>:<KeyID>.<Secret>`.
func parseCredential(cred string) (projectID, keyID, secret string, ok bool) {
	projectID, key, found := strings.Cut(cred, ":")
	if !found {
		return "", "", "", false
	}
	keyID, secret, found = strings.Cut(key, ".")
	if !found || uuid.Validate(projectID) != nil || len(keyID) != 2*keyIDBytes || secret == "" {
		return "", "", "", false
	}
	return projectID, keyID, secret, true
}

var errBadCredential = status.Error(codes.Unauthenticated,
	"invalid credential: send the header authorization: Bearer <ProjectID>:<AccessKey> with a valid, unexpired access key")

// authenticate checks the bearer credential of a request and puts its
// Principal into the context. Every failure is Unauthenticated with the same
// message, so a caller cannot probe which projects or keys exist.
func (srv *Server) authenticate(ctx context.Context) (context.Context, error) {
	cred, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated,
			"missing credential: send the header authorization: Bearer <ProjectID>:<AccessKey>")
	}
	projectID, keyID, secret, ok := parseCredential(cred)
	if !ok {
		return nil, errBadCredential
	}
	key, err := srv.db.AccessKey.Query().
		Where(accesskey.ID(keyID), accesskey.ProjectID(projectID)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, srv.toStatus(ctx, "authenticate", fmt.Errorf("find access key: %w", err))
	}
	sum := sha256.Sum256([]byte(secret))
	now := srv.now()
	if subtle.ConstantTimeCompare(sum[:], key.SecretHash) != 1 ||
		key.RevokeTime != nil ||
		(key.ExpireTime != nil && !now.Before(*key.ExpireTime)) {
		return nil, errBadCredential
	}
	return context.WithValue(ctx, principalKey{}, Principal{ProjectID: projectID, KeyID: keyID, Root: key.Root}), nil
}

// InitProject creates the project of a new deployment with a root access key
// and returns the credential, the only time it is ever shown. It refuses when
// the database already holds a project.
func InitProject(ctx context.Context, db *ent.Client, displayName string) (credential string, err error) {
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
	now := time.Now().UTC().Truncate(time.Microsecond)
	projectID := uuid.Must(uuid.NewV7()).String()
	if err := tx.Project.Create().SetID(projectID).SetDisplayName(displayName).
		SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create project: %w", err)
	}
	keyID, key, hash, err := NewAccessKey()
	if err != nil {
		return "", err
	}
	if err := tx.AccessKey.Create().SetID(keyID).SetProjectID(projectID).SetName("root").
		SetSecretHash(hash).SetRoot(true).SetCreateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create root key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return FormatCredential(projectID, key), nil
}
