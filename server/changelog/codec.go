package changelog

import (
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
)

// The one encoding of events as change rows. Decode below is its inverse;
// codec_test.go checks that every event survives the round trip.

func (e ProjectUpdated) entry() entry {
	return entry{kind: change.KindProject, op: change.OperationUpdate, resource: string(e.Project)}
}

func tenantEntry(t TenantID, op change.Operation) entry {
	return entry{tenant: t, kind: change.KindTenant, op: op, resource: string(t)}
}
func (e TenantCreated) entry() entry { return tenantEntry(e.Tenant, change.OperationCreate) }
func (e TenantUpdated) entry() entry { return tenantEntry(e.Tenant, change.OperationUpdate) }
func (e TenantDeleted) entry() entry { return tenantEntry(e.Tenant, change.OperationDelete) }

func userEntry(t TenantID, u UserID, op change.Operation) entry {
	return entry{tenant: t, kind: change.KindUser, op: op, resource: string(u)}
}
func (e UserCreated) entry() entry     { return userEntry(e.Tenant, e.User, change.OperationCreate) }
func (e UserUpdated) entry() entry     { return userEntry(e.Tenant, e.User, change.OperationUpdate) }
func (e UserDeactivated) entry() entry { return userEntry(e.Tenant, e.User, change.OperationDisable) }
func (e UserReactivated) entry() entry { return userEntry(e.Tenant, e.User, change.OperationEnable) }
func (e UserDeleted) entry() entry     { return userEntry(e.Tenant, e.User, change.OperationDelete) }

func groupEntry(t TenantID, g GroupID, op change.Operation) entry {
	return entry{tenant: t, kind: change.KindGroup, op: op, resource: string(g)}
}
func (e GroupCreated) entry() entry { return groupEntry(e.Tenant, e.Group, change.OperationCreate) }
func (e GroupUpdated) entry() entry { return groupEntry(e.Tenant, e.Group, change.OperationUpdate) }
func (e GroupDeleted) entry() entry { return groupEntry(e.Tenant, e.Group, change.OperationDelete) }

func roleEntry(t TenantID, r RoleID, op change.Operation) entry {
	return entry{tenant: t, kind: change.KindRole, op: op, resource: string(r)}
}
func (e RoleCreated) entry() entry { return roleEntry(e.Tenant, e.Role, change.OperationCreate) }
func (e RoleUpdated) entry() entry { return roleEntry(e.Tenant, e.Role, change.OperationUpdate) }
func (e RoleDeleted) entry() entry { return roleEntry(e.Tenant, e.Role, change.OperationDelete) }

// A membership's row names the group as its resource and the user beside it.
func (e MemberAdded) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindGroupMember, op: change.OperationAdd, resource: string(e.Group), user: e.User}
}
func (e MemberRemoved) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindGroupMember, op: change.OperationRemove, resource: string(e.Group), user: e.User}
}

// An assignment's row names the role as its resource and the user beside it.
func (e RoleAssigned) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindRoleAssignment, op: change.OperationAdd, resource: string(e.Role), user: e.User}
}
func (e RoleUnassigned) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindRoleAssignment, op: change.OperationRemove, resource: string(e.Role), user: e.User}
}

// A mapping's row names the group as its resource and the role beside it.
func (e RoleMapped) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindGroupRole, op: change.OperationAdd, resource: string(e.Group), role: e.Role}
}
func (e RoleUnmapped) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindGroupRole, op: change.OperationRemove, resource: string(e.Group), role: e.Role}
}

func keyEntry(k KeyID, op change.Operation) entry {
	return entry{kind: change.KindAccessKey, op: op, resource: string(k)}
}
func (e KeyCreated) entry() entry { return keyEntry(e.Key, change.OperationCreate) }
func (e KeyUpdated) entry() entry { return keyEntry(e.Key, change.OperationUpdate) }
func (e KeyRevoked) entry() entry { return keyEntry(e.Key, change.OperationRevoke) }
func (e KeyDeleted) entry() entry { return keyEntry(e.Key, change.OperationDelete) }

func tenantSetting(t TenantID, kind change.Kind, op change.Operation) entry {
	return entry{tenant: t, kind: kind, op: op, resource: string(t)}
}
func (e SamlConfigCreated) entry() entry {
	return tenantSetting(e.Tenant, change.KindSamlConfig, change.OperationCreate)
}
func (e SamlConfigUpdated) entry() entry {
	return tenantSetting(e.Tenant, change.KindSamlConfig, change.OperationUpdate)
}
func (e SamlConfigDeleted) entry() entry {
	return tenantSetting(e.Tenant, change.KindSamlConfig, change.OperationDelete)
}
func (e ScimEnabled) entry() entry {
	return tenantSetting(e.Tenant, change.KindScim, change.OperationEnable)
}
func (e ScimDisabled) entry() entry {
	return tenantSetting(e.Tenant, change.KindScim, change.OperationDisable)
}
func (e ScimTokenRotated) entry() entry {
	return tenantSetting(e.Tenant, change.KindScim, change.OperationRotate)
}
func clientEntry(c ClientID, op change.Operation) entry {
	return entry{kind: change.KindOauthClient, op: op, resource: string(c)}
}
func (e ClientCreated) entry() entry       { return clientEntry(e.Client, change.OperationCreate) }
func (e ClientUpdated) entry() entry       { return clientEntry(e.Client, change.OperationUpdate) }
func (e ClientSecretRotated) entry() entry { return clientEntry(e.Client, change.OperationRotate) }
func (e ClientDeleted) entry() entry       { return clientEntry(e.Client, change.OperationDelete) }

func (e SigningKeyCreated) entry() entry {
	return entry{kind: change.KindSigningKey, op: change.OperationCreate, resource: string(e.Key)}
}

func sessionEntry(t TenantID, s SessionID, u UserID, op change.Operation) entry {
	return entry{tenant: t, kind: change.KindSession, op: op, resource: string(s), user: u}
}
func (e SessionCreated) entry() entry {
	return sessionEntry(e.Tenant, e.Session, e.User, change.OperationCreate)
}
func (e TokensIssued) entry() entry {
	return sessionEntry(e.Tenant, e.Session, e.User, change.OperationUpdate)
}
func (e SessionRevoked) entry() entry {
	return sessionEntry(e.Tenant, e.Session, e.User, change.OperationRevoke)
}

func (e LoginFailed) entry() entry {
	return entry{tenant: e.Tenant, kind: change.KindLogin, op: change.OperationFail, resource: string(e.Client), user: e.User, detail: e.Code}
}

func (e TenantLimitsChanged) entry() entry {
	return tenantSetting(e.Tenant, change.KindTenantLimits, change.OperationUpdate)
}

// Encode returns the row that records e as part of write writeID, numbered
// rev, or 0 for the sequencer to number once the write has committed. The
// writer inserts it (store.Writer), with the write's settlement on its first
// entry.
func Encode(projectID, writeID string, rev int64, now time.Time, e Event) *ent.Change {
	en := e.entry()
	return &ent.Change{
		ProjectID:  projectID,
		WriteID:    writeID,
		Revision:   rev,
		TenantID:   string(en.tenant),
		Kind:       en.kind,
		Operation:  en.op,
		ResourceID: en.resource,
		UserID:     string(en.user),
		RoleID:     string(en.role),
		Detail:     en.detail,
		CreateTime: now,
	}
}

// Record is a decoded entry: an event and the revision that wrote it.
type Record struct {
	Revision int64
	Event    Event
}

// Decode returns the event a change row records.
func Decode(c *ent.Change) (Record, error) {
	t, id := TenantID(c.TenantID), c.ResourceID
	var e Event
	switch c.Kind {
	case change.KindProject:
		e = ProjectUpdated{Project: ProjectID(id)}
	case change.KindTenant:
		e = pick(c.Operation, TenantCreated{t}, TenantUpdated{t}, TenantDeleted{t})
	case change.KindUser:
		u := UserID(id)
		switch c.Operation {
		case change.OperationDisable:
			e = UserDeactivated{t, u}
		case change.OperationEnable:
			e = UserReactivated{t, u}
		default:
			e = pick(c.Operation, UserCreated{t, u}, UserUpdated{t, u}, UserDeleted{t, u})
		}
	case change.KindGroup:
		g := GroupID(id)
		e = pick(c.Operation, GroupCreated{t, g}, GroupUpdated{t, g}, GroupDeleted{t, g})
	case change.KindRole:
		r := RoleID(id)
		e = pick(c.Operation, RoleCreated{t, r}, RoleUpdated{t, r}, RoleDeleted{t, r})
	case change.KindGroupMember:
		e = addRemove(c.Operation, MemberAdded{t, GroupID(id), UserID(c.UserID)}, MemberRemoved{t, GroupID(id), UserID(c.UserID)})
	case change.KindRoleAssignment:
		e = addRemove(c.Operation, RoleAssigned{t, UserID(c.UserID), RoleID(id)}, RoleUnassigned{t, UserID(c.UserID), RoleID(id)})
	case change.KindGroupRole:
		e = addRemove(c.Operation, RoleMapped{t, GroupID(id), RoleID(c.RoleID)}, RoleUnmapped{t, GroupID(id), RoleID(c.RoleID)})
	case change.KindAccessKey:
		k := KeyID(id)
		if c.Operation == change.OperationRevoke {
			e = KeyRevoked{k}
		} else {
			e = pick(c.Operation, KeyCreated{k}, KeyUpdated{k}, KeyDeleted{k})
		}
	case change.KindSamlConfig:
		e = pick(c.Operation, SamlConfigCreated{t}, SamlConfigUpdated{t}, SamlConfigDeleted{t})
	case change.KindScim:
		switch c.Operation {
		case change.OperationEnable:
			e = ScimEnabled{t}
		case change.OperationDisable:
			e = ScimDisabled{t}
		case change.OperationRotate:
			e = ScimTokenRotated{t}
		}
	case change.KindOauthClient:
		cl := ClientID(id)
		if c.Operation == change.OperationRotate {
			e = ClientSecretRotated{cl}
		} else {
			e = pick(c.Operation, ClientCreated{cl}, ClientUpdated{cl}, ClientDeleted{cl})
		}
	case change.KindSigningKey:
		if c.Operation == change.OperationCreate {
			e = SigningKeyCreated{SigningKeyID(id)}
		}
	case change.KindSession:
		s, u := SessionID(id), UserID(c.UserID)
		switch c.Operation {
		case change.OperationCreate:
			e = SessionCreated{t, s, u}
		case change.OperationUpdate:
			e = TokensIssued{t, s, u}
		case change.OperationRevoke:
			e = SessionRevoked{t, s, u}
		}
	case change.KindLogin:
		if c.Operation == change.OperationFail {
			e = LoginFailed{t, ClientID(id), UserID(c.UserID), c.Detail}
		}
	case change.KindTenantLimits:
		if c.Operation == change.OperationUpdate {
			e = TenantLimitsChanged{t}
		}
	}
	if e == nil || e.entry() != (entry{tenant: t, kind: c.Kind, op: c.Operation, resource: id, user: UserID(c.UserID), role: RoleID(c.RoleID), detail: c.Detail}) {
		return Record{}, fmt.Errorf("change %d: no event is %s/%s", c.ID, c.Kind, c.Operation)
	}
	return Record{Revision: c.Revision, Event: e}, nil
}

func pick(op change.Operation, created, updated, deleted Event) Event {
	switch op {
	case change.OperationCreate:
		return created
	case change.OperationUpdate:
		return updated
	case change.OperationDelete:
		return deleted
	}
	return nil
}

func addRemove(op change.Operation, added, removed Event) Event {
	switch op {
	case change.OperationAdd:
		return added
	case change.OperationRemove:
		return removed
	}
	return nil
}

// TenantOf returns the tenant an event names, "" for project-wide events.
func TenantOf(e Event) TenantID { return e.entry().tenant }
