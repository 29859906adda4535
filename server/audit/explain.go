package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/roleindex"
)

// MaxConsequences bounds the role consequences one event keeps; a write that
// moves more (a role mapped to a group of 10,000) keeps the count of the rest,
// so that a page of events stays a few megabytes.
const MaxConsequences = 100

// Consequence is a change of a user's effective roles a write caused, and
// why, as the audit event stores it.
type Consequence struct {
	UserID      string `json:"user_id"`
	RoleID      string `json:"role_id"`
	RoleName    string `json:"role_name"`
	Gained      bool   `json:"gained"`
	Explanation string `json:"explanation"`
}

// Explainer explains writes' role consequences. The role index computes
// every revision's effective-role changes for role checks and watchers; the
// explainer reads those of a write's revision (the writer waits until this
// instance's index holds it) and gives each the event of the write that
// caused it. The explanation is stored after the write commits: the index
// learns the write only then, and it is derived data, so a crash in between
// loses only the explanation.
type Explainer struct {
	db    *ent.Client
	index *roleindex.Index
}

// NewExplainer returns the explainer of writes to db, over index.
func NewExplainer(db *ent.Client, index *roleindex.Index) *Explainer {
	return &Explainer{db: db, index: index}
}

// Explain stores the role consequences of the write writeID, numbered rev,
// on its audit event; tenantID is the event's (Tenant). ctx is the write's
// (scoped) context. turn is held to store them only: the writers' turn where
// the database runs one write at a time, which most writes (a user created,
// a name changed) need not wait for, having no consequence to store.
func (x *Explainer) Explain(ctx context.Context, turn sync.Locker, projectID, tenantID, writeID string, rev int64, events []changelog.Event) error {
	if tenantID == "" || rev == 0 {
		return nil
	}
	ts, err := x.index.Tenant(projectID, tenantID)
	if err != nil {
		return nil // the tenant is gone (deleted by this write): nothing to explain
	}
	var out []Consequence
	omitted := 0
	batches, _, _, _ := ts.Since(rev - 1)
	ts.Read(func(t *roleindex.Tenant) {
		for _, b := range batches {
			if b.Revision != rev {
				continue
			}
			for _, c := range b.Changes {
				if c.SessionID != "" {
					continue
				}
				if len(out) == MaxConsequences {
					omitted++
					continue
				}
				out = append(out, Consequence{UserID: c.UserID, RoleID: c.RoleID, RoleName: c.RoleName, Gained: c.Gained,
					Explanation: explain(t, c, events)})
			}
		}
	})
	if len(out) == 0 {
		return nil
	}
	body, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode role consequences: %w", err)
	}
	turn.Lock()
	defer turn.Unlock()
	return x.db.AuditEvent.Update().Where(auditevent.WriteID(writeID)).
		SetRoleConsequences(body).SetRoleConsequencesOmitted(int32(omitted)).Exec(ctx)
}

// explain says why the user of c gained or lost its role: the write's event
// that touches that user and role most directly.
func explain(t *roleindex.Tenant, c roleindex.Change, events []changelog.Event) string {
	verb := "lost"
	if c.Gained {
		verb = "gained"
	}
	return fmt.Sprintf("user %s %s role %s because %s", c.UserID, verb, c.RoleName, reason(t, c, events))
}

func reason(t *roleindex.Tenant, c roleindex.Change, events []changelog.Event) string {
	user, role := changelog.UserID(c.UserID), changelog.RoleID(c.RoleID)
	// Most direct first: an assignment of this role, a membership of a group
	// that grants it, the user's own state, the role's mapping or name, the
	// group's name, any membership.
	for _, e := range events {
		switch e := e.(type) {
		case changelog.RoleAssigned:
			if e.User == user && e.Role == role {
				return "assigned the role directly"
			}
		case changelog.RoleUnassigned:
			if e.User == user && e.Role == role {
				return "unassigned from the role"
			}
		case changelog.MemberAdded:
			if e.User == user && t.GroupGrants(string(e.Group), c.RoleID) {
				return "added to group " + string(e.Group)
			}
		case changelog.MemberRemoved:
			if e.User == user && t.GroupGrants(string(e.Group), c.RoleID) {
				return "removed from group " + string(e.Group)
			}
		}
	}
	for _, e := range events {
		switch e := e.(type) {
		case changelog.UserDeactivated:
			if e.User == user {
				return "deactivated"
			}
		case changelog.UserReactivated:
			if e.User == user {
				return "reactivated"
			}
		case changelog.UserDeleted:
			if e.User == user {
				return "deleted"
			}
		case changelog.UserUpdated:
			if e.User == user {
				return "updated"
			}
		case changelog.RoleMapped:
			if e.Role == role {
				return "group " + string(e.Group) + " was mapped to the role"
			}
		case changelog.RoleUnmapped:
			if e.Role == role {
				return "group " + string(e.Group) + " was unmapped from the role"
			}
		case changelog.RoleCreated:
			if e.Role == role {
				return "the role was created with the name of one of the user's groups"
			}
		case changelog.RoleUpdated:
			if e.Role == role {
				return "the role was renamed"
			}
		case changelog.RoleDeleted:
			if e.Role == role {
				return "the role was deleted"
			}
		}
	}
	for _, e := range events {
		switch e := e.(type) {
		case changelog.GroupUpdated:
			return "group " + string(e.Group) + " was renamed"
		case changelog.GroupDeleted:
			return "group " + string(e.Group) + " was deleted"
		case changelog.MemberAdded:
			if e.User == user {
				return "added to group " + string(e.Group)
			}
		case changelog.MemberRemoved:
			if e.User == user {
				return "removed from group " + string(e.Group)
			}
		}
	}
	return "of this write"
}
