package changelog

import "github.com/acme/identity/ent/change"

// Ids of what events name. They are distinct types, so an event built with
// two ids swapped does not compile: MemberAdded{Group: userID} is a type error.
type (
	ProjectID string
	TenantID  string
	UserID    string
	GroupID   string
	RoleID    string
	KeyID     string
	ClientID  string
	SessionID string
	// SigningKeyID is a token signing key's kid.
	SigningKeyID string
)

// Event is one entry of the change log. Only this package defines events;
// each has one constructor (its struct) and one encoding (its entry method).
type Event interface {
	entry() entry
}

// entry is an event as the change table stores it. resource is what the
// entry is about; user and role are the second party of a membership, an
// assignment or a mapping.
type entry struct {
	tenant   TenantID
	kind     change.Kind
	op       change.Operation
	resource string
	user     UserID
	role     RoleID
	detail   string
}

// Tenant returns the tenant an event belongs to ("" for project-wide events:
// the project itself and access keys).
func Tenant(e Event) TenantID { return e.entry().tenant }

// ProjectUpdated: the project was renamed.
type ProjectUpdated struct{ Project ProjectID }

// TenantCreated, TenantUpdated and TenantDeleted are a tenant's lifecycle;
// deleting a tenant deletes everything in it.
type (
	TenantCreated struct{ Tenant TenantID }
	TenantUpdated struct{ Tenant TenantID }
	TenantDeleted struct{ Tenant TenantID }
)

// UserCreated, UserUpdated and UserDeleted are a user's lifecycle.
// UserDeactivated and UserReactivated are updates that also changed whether
// the user is active: a deactivated user holds no role and must lose its
// sessions.
type (
	UserCreated struct {
		Tenant TenantID
		User   UserID
	}
	UserUpdated struct {
		Tenant TenantID
		User   UserID
	}
	UserDeactivated struct {
		Tenant TenantID
		User   UserID
	}
	UserReactivated struct {
		Tenant TenantID
		User   UserID
	}
	UserDeleted struct {
		Tenant TenantID
		User   UserID
	}
)

// GroupCreated, GroupUpdated (renamed or given another external id) and
// GroupDeleted are a group's lifecycle; a group grants the role of its name.
type (
	GroupCreated struct {
		Tenant TenantID
		Group  GroupID
	}
	GroupUpdated struct {
		Tenant TenantID
		Group  GroupID
	}
	GroupDeleted struct {
		Tenant TenantID
		Group  GroupID
	}
)

// RoleCreated, RoleUpdated and RoleDeleted are a role's lifecycle.
type (
	RoleCreated struct {
		Tenant TenantID
		Role   RoleID
	}
	RoleUpdated struct {
		Tenant TenantID
		Role   RoleID
	}
	RoleDeleted struct {
		Tenant TenantID
		Role   RoleID
	}
)

// MemberAdded and MemberRemoved change a group's membership.
type (
	MemberAdded struct {
		Tenant TenantID
		Group  GroupID
		User   UserID
	}
	MemberRemoved struct {
		Tenant TenantID
		Group  GroupID
		User   UserID
	}
)

// RoleAssigned and RoleUnassigned change the roles a user holds directly.
type (
	RoleAssigned struct {
		Tenant TenantID
		User   UserID
		Role   RoleID
	}
	RoleUnassigned struct {
		Tenant TenantID
		User   UserID
		Role   RoleID
	}
)

// RoleMapped and RoleUnmapped change the roles a group grants besides the
// role of its name.
type (
	RoleMapped struct {
		Tenant TenantID
		Group  GroupID
		Role   RoleID
	}
	RoleUnmapped struct {
		Tenant TenantID
		Group  GroupID
		Role   RoleID
	}
)

// KeyCreated, KeyUpdated, KeyRevoked and KeyDeleted are an access key's
// lifecycle (keys belong to the project, not to a tenant).
type (
	KeyCreated struct{ Key KeyID }
	KeyUpdated struct{ Key KeyID }
	KeyRevoked struct{ Key KeyID }
	KeyDeleted struct{ Key KeyID }
)

// SamlConfigCreated, SamlConfigUpdated and SamlConfigDeleted change a
// tenant's SAML SSO settings.
type (
	SamlConfigCreated struct{ Tenant TenantID }
	SamlConfigUpdated struct{ Tenant TenantID }
	SamlConfigDeleted struct{ Tenant TenantID }
)

// ScimEnabled, ScimDisabled and ScimTokenRotated change a tenant's SCIM
// tokens.
type (
	ScimEnabled      struct{ Tenant TenantID }
	ScimDisabled     struct{ Tenant TenantID }
	ScimTokenRotated struct{ Tenant TenantID }
)

// ClientCreated, ClientUpdated, ClientSecretRotated and ClientDeleted are an
// OAuth client's lifecycle (clients belong to the project, not to a tenant).
type (
	ClientCreated       struct{ Client ClientID }
	ClientUpdated       struct{ Client ClientID }
	ClientSecretRotated struct{ Client ClientID }
	ClientDeleted       struct{ Client ClientID }
)

// SigningKeyCreated: a token signing key was created (and the keys it
// succeeds were given their retire time).
type SigningKeyCreated struct{ Key SigningKeyID }

// SessionCreated: a user signed in through the tenant's IdP, starting a
// session.
type SessionCreated struct {
	Tenant  TenantID
	Session SessionID
	User    UserID
}

// TokensIssued: tokens were issued for a session (its code exchanged, or a
// refresh token used).
// SessionRevoked: a session ended (revoked, its user deactivated or
// deleted, or a refresh token presented twice); its refresh tokens stop
// working and policy engines following the watch drop its access tokens.
type (
	TokensIssued struct {
		Tenant  TenantID
		Session SessionID
		User    UserID
	}
	SessionRevoked struct {
		Tenant  TenantID
		Session SessionID
		User    UserID
	}
)

// LoginFailed: a sign-in at the tenant's ACS was refused, with its failure
// code (user_not_provisioned, invalid_signature, ...); User is set when the
// user is known (user_inactive).
type LoginFailed struct {
	Tenant TenantID
	Client ClientID
	User   UserID
	Code   string
}

// TenantLimitsChanged: the tenant's rate and concurrency limits changed.
type TenantLimitsChanged struct{ Tenant TenantID }
