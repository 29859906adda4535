// Package signing keeps the keys that sign a project's OpenID Connect tokens:
// their lifecycle (publish, activate, retire, expire), their storage
// (private halves encrypted under the instance's key-encryption key) and
// signing. Private keys never leave this package except as ciphertext.
package signing

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/signingkey"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// ES256 (ECDSA P-256, SHA-256): every OpenID Connect library and API gateway
// JWT filter verifies it (EdDSA is still missing from several), its keys and
// signatures are small, and signing is fast.
const Algorithm = jose.ES256

const (
	// RotationPeriod is how long a key signs before its successor takes over.
	RotationPeriod = 30 * 24 * time.Hour
	// PublishLead is how long a scheduled key is published before it signs,
	// so verifiers that cache the JWKS (commonly for minutes) know it first.
	PublishLead = time.Hour
	// KeepAfterRetire is how long a retired key stays published: longer than
	// the longest token lifetime (one hour) plus clock skew.
	KeepAfterRetire = 2 * time.Hour
	// recheck is how long a signer is used before the keys are read again;
	// a rotation on another instance takes effect here within it (the old
	// key stays published, so its tokens verify meanwhile).
	recheck = 10 * time.Second
)

// KeySize is the length of the key-encryption key.
const KeySize = 32

// ErrWrongKey means the key-encryption key does not open the stored keys.
var ErrWrongKey = errors.New("the key-encryption key does not decrypt the stored signing keys: every instance must use the same key file")

// Keyring signs with and manages the projects' signing keys.
type Keyring struct {
	db   *ent.Client
	w    *store.Writer
	aead cipher.AEAD
	now  func() time.Time

	mu      sync.Mutex
	signers map[string]*cached // by project
}

type cached struct {
	key  jose.JSONWebKey // the private key with its kid
	read time.Time
}

// New returns the keyring over db, encrypting private keys with kek
// (KeySize bytes).
func New(db *ent.Client, w *store.Writer, kek []byte, now func() time.Time) (*Keyring, error) {
	if len(kek) != KeySize {
		return nil, fmt.Errorf("the key-encryption key must be %d bytes, not %d", KeySize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{db: db, w: w, aead: aead, now: now, signers: map[string]*cached{}}, nil
}

// Verify checks that the key-encryption key opens one stored key of each
// project (ErrWrongKey otherwise), so a misconfigured instance fails at start
// rather than at its first sign-in.
func (k *Keyring) Verify(ctx context.Context) error {
	keys, err := k.db.SigningKey.Query().Order(ent.Desc(signingkey.FieldCreateTime)).All(scope.System(ctx))
	if err != nil {
		return fmt.Errorf("read signing keys: %w", err)
	}
	seen := map[string]bool{}
	for _, key := range keys {
		if seen[key.ProjectID] {
			continue
		}
		seen[key.ProjectID] = true
		if _, err := k.private(key); err != nil {
			return err
		}
	}
	return nil
}

// Sign signs payload (a JWT's claims, JSON) as a JWT of type typ ("JWT" for
// ID tokens, "at+jwt" for access tokens, RFC 9068, so one cannot pass for
// the other) with the signing key of the project ctx is scoped to, creating
// or scheduling keys as the lifecycle requires. It returns the compact JWS.
func (k *Keyring) Sign(ctx context.Context, typ string, payload []byte) (string, error) {
	key, err := k.signer(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: key},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

func (k *Keyring) signer(ctx context.Context) (jose.JSONWebKey, error) {
	sc, ok := scope.From(ctx)
	if !ok || sc.ProjectID == "" {
		return jose.JSONWebKey{}, scope.ErrUnscoped
	}
	now := k.now()
	k.mu.Lock()
	c := k.signers[sc.ProjectID]
	k.mu.Unlock()
	if c != nil && now.Sub(c.read) < recheck {
		return c.key, nil
	}
	key, err := k.current(ctx, now)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	priv, err := k.private(key)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: key.ID, Algorithm: string(Algorithm)}
	k.mu.Lock()
	k.signers[sc.ProjectID] = &cached{key: jwk, read: now}
	k.mu.Unlock()
	return jwk, nil
}

// current returns the key that signs now, first writing what the lifecycle
// asks: the first key, or the successor of a key near the end of its period.
func (k *Keyring) current(ctx context.Context, now time.Time) (*ent.SigningKey, error) {
	active, due, err := k.state(ctx, k.db, now)
	if err != nil {
		return nil, err
	}
	if active != nil && !due {
		return active, nil
	}
	// Decided again inside the write: the project's writes are serialized,
	// so two instances cannot both schedule a successor.
	if _, err := k.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		active, due, err = k.state(ctx, tx.Client(), tx.Now)
		if err != nil || (active != nil && !due) {
			return err
		}
		activate := tx.Now
		if active != nil {
			activate = maxTime(active.ActivateTime.Add(RotationPeriod), tx.Now.Add(PublishLead))
		}
		created, err := k.create(ctx, tx, activate)
		if active == nil {
			active = created
		}
		return err
	}); err != nil {
		return nil, err
	}
	return active, nil
}

// state reads the project's key that signs at now, and whether its successor
// is due to be scheduled (none is, and its period ends within PublishLead).
func (k *Keyring) state(ctx context.Context, db *ent.Client, now time.Time) (active *ent.SigningKey, due bool, err error) {
	keys, err := db.SigningKey.Query().
		Where(signingkey.Or(signingkey.ExpireTimeIsNil(), signingkey.ExpireTimeGT(now))).
		Order(ent.Desc(signingkey.FieldActivateTime)).All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read signing keys: %w", err)
	}
	scheduled := false
	for _, key := range keys {
		if key.ActivateTime.After(now) {
			scheduled = true
			continue
		}
		return key, !scheduled && !now.Before(key.ActivateTime.Add(RotationPeriod-PublishLead)), nil
	}
	return nil, false, nil
}

// Rotate creates a key, published now, signing from PublishLead later or,
// when immediate, from now; the key it succeeds retires when it activates.
// An immediate rotation (a suspected compromise) also withdraws every other
// key of the project at once: their tokens stop verifying.
func (k *Keyring) Rotate(ctx context.Context, immediate bool) (*ent.SigningKey, int64, error) {
	var out *ent.SigningKey
	rev, err := k.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		activate := tx.Now.Add(PublishLead)
		if immediate {
			activate = tx.Now
		}
		var err error
		if out, err = k.create(ctx, tx, activate); err != nil || !immediate {
			return err
		}
		// After a suspected compromise the old keys must stop verifying
		// too: they leave the JWKS now, and their tokens fail.
		_, err = tx.SigningKey.Update().Where(signingkey.IDNEQ(out.ID)).SetRetireTime(tx.Now).SetExpireTime(tx.Now).Save(ctx)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	k.mu.Lock()
	delete(k.signers, out.ProjectID)
	k.mu.Unlock()
	return out, rev, nil
}

// create writes a new key activating at activate, and retires at that time
// every key of the project that would otherwise still sign after it.
func (k *Keyring) create(ctx context.Context, tx *store.Tx, activate time.Time) (*ent.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	idBytes := make([]byte, 16)
	if _, err := rand.Read(idBytes); err != nil {
		return nil, err
	}
	kid := hex.EncodeToString(idBytes)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := k.aead.Seal(nonce, nonce, der, additionalData(tx.ProjectID, kid))
	if _, err := tx.SigningKey.Update().
		Where(signingkey.ActivateTimeLT(activate), signingkey.Or(signingkey.RetireTimeIsNil(), signingkey.RetireTimeGT(activate))).
		SetRetireTime(activate).SetExpireTime(activate.Add(KeepAfterRetire)).Save(ctx); err != nil {
		return nil, fmt.Errorf("retire signing keys: %w", err)
	}
	out, err := tx.SigningKey.Create().
		SetID(kid).SetProjectID(tx.ProjectID).SetAlgorithm(string(Algorithm)).
		SetPublicKey(pub).SetPrivateKey(sealed).
		SetCreateTime(tx.Now).SetActivateTime(activate).
		Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	tx.Record(changelog.SigningKeyCreated{Key: changelog.SigningKeyID(kid)})
	return out, nil
}

// private opens a key's private half.
func (k *Keyring) private(key *ent.SigningKey) (*ecdsa.PrivateKey, error) {
	n := k.aead.NonceSize()
	if len(key.PrivateKey) < n {
		return nil, ErrWrongKey
	}
	der, err := k.aead.Open(nil, key.PrivateKey[:n], key.PrivateKey[n:], additionalData(key.ProjectID, key.ID))
	if err != nil {
		return nil, ErrWrongKey
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", key.ID, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not an ECDSA key", key.ID)
	}
	return priv, nil
}

// List returns the published keys of the project ctx is scoped to, newest
// first.
func (k *Keyring) List(ctx context.Context) ([]*ent.SigningKey, error) {
	return published(ctx, k.db, k.now())
}

// Published returns the published keys of every project, for the JWKS.
func (k *Keyring) Published(ctx context.Context) ([]*ent.SigningKey, error) {
	return published(scope.System(ctx), k.db, k.now())
}

// VerificationKey returns the published public key kid of projectID, for
// verifying a token offline; ok is false when there is none.
func (k *Keyring) VerificationKey(ctx context.Context, projectID, kid string) (key jose.JSONWebKey, ok bool, err error) {
	row, err := k.db.SigningKey.Query().Where(signingkey.ID(kid), signingkey.ProjectID(projectID),
		signingkey.Or(signingkey.ExpireTimeIsNil(), signingkey.ExpireTimeGT(k.now()))).Only(scope.System(ctx))
	if ent.IsNotFound(err) {
		return jose.JSONWebKey{}, false, nil
	}
	if err != nil {
		return jose.JSONWebKey{}, false, fmt.Errorf("read signing key: %w", err)
	}
	key, err = PublicJWK(row)
	return key, err == nil, err
}

func published(ctx context.Context, db *ent.Client, now time.Time) ([]*ent.SigningKey, error) {
	keys, err := db.SigningKey.Query().
		Where(signingkey.Or(signingkey.ExpireTimeIsNil(), signingkey.ExpireTimeGT(now))).
		Order(ent.Desc(signingkey.FieldCreateTime)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return keys, nil
}

// PublicJWK returns a key's public half as a JSON Web Key.
func PublicJWK(key *ent.SigningKey) (jose.JSONWebKey, error) {
	pub, err := x509.ParsePKIXPublicKey(key.PublicKey)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("signing key %s: %w", key.ID, err)
	}
	return jose.JSONWebKey{Key: pub, KeyID: key.ID, Algorithm: key.Algorithm, Use: "sig"}, nil
}

// additionalData binds a sealed private key to its project and kid: a row
// copied to another project or key does not open.
func additionalData(projectID, kid string) []byte { return []byte(projectID + "/" + kid) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
