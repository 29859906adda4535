package authz

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
)

// Permission is what a method requires of its caller.
type Permission string

// The API permissions. Project Admin holds all of them everywhere; the
// tenant-scoped ones can also be held on single tenants.
const (
	PermProjectRead   Permission = "project.read"
	PermProjectWrite  Permission = "project.write"
	PermTenantList    Permission = "tenant.list"
	PermTenantWrite   Permission = "tenant.write"
	PermAccessKeyRead Permission = "accesskey.read"
	PermAccessKeyEdit Permission = "accesskey.write"
	PermClientRead    Permission = "oauthclient.read"
	PermClientWrite   Permission = "oauthclient.write"
	PermKeysRead      Permission = "signingkey.read"
	PermKeysWrite     Permission = "signingkey.write"

	PermTenantRead Permission = "tenant.read"
	PermUserRead   Permission = "user.read"
	PermUserWrite  Permission = "user.write"
	PermGroupRead  Permission = "group.read"
	PermGroupWrite Permission = "group.write"
	PermRoleRead   Permission = "role.read"
	PermRoleWrite  Permission = "role.write"
	PermSsoRead    Permission = "sso.read"
	PermSsoWrite   Permission = "sso.write"
	PermScimRead   Permission = "scim.read"
	PermScimWrite  Permission = "scim.write"
	// PermSessionRead and PermSessionWrite list and end sign-in sessions.
	PermSessionRead  Permission = "session.read"
	PermSessionWrite Permission = "session.write"
	// PermAuditRead reads the audit trail.
	PermAuditRead Permission = "audit.read"
	// PermScimReport records the SCIM requests of a tenant's IdP on the
	// audit trail (the SCIM gateway does, with the IdP's credential).
	PermScimReport Permission = "scim.report"
	// PermAuthzCheck lets a service or policy engine ask role checks of a
	// tenant, list effective roles and watch their changes.
	PermAuthzCheck Permission = "authz.check"
)

// TenantAdminPermissions are what Tenant Admin grants on its tenant: the
// tenant's users, groups, roles, and its SSO and SCIM settings.
var TenantAdminPermissions = []Permission{
	PermTenantRead, PermUserRead, PermUserWrite, PermGroupRead, PermGroupWrite,
	PermRoleRead, PermRoleWrite, PermSsoRead, PermSsoWrite, PermScimRead, PermScimWrite, PermAuthzCheck,
	PermSessionRead, PermSessionWrite, PermAuditRead, PermScimReport,
}

// ScimTokenPermissions are what a SCIM token grants on its tenant: what
// provisioning needs, and nothing of the tenant's SSO or SCIM settings.
var ScimTokenPermissions = []Permission{
	PermTenantRead, PermUserRead, PermUserWrite, PermGroupRead, PermGroupWrite, PermRoleRead, PermScimReport,
}

// tenantPermission says which permissions can be held on a single tenant
// (those Tenant Admin grants); a tenant role can grant only these.
var tenantPermission = func() map[Permission]bool {
	m := map[Permission]bool{}
	for _, p := range TenantAdminPermissions {
		m[p] = true
	}
	return m
}()

// scope says where a method's permission must be held.
type scope int

const (
	// scopeProject: only Project Admin.
	scopeProject scope = iota + 1
	// scopeTenant: on the tenant the request names.
	scopeTenant
	// scopeCaller: any authenticated caller; the method answers about the
	// caller itself.
	scopeCaller
	// scopeTenantOrProject: on the tenant the request names, or (naming
	// none) only Project Admin.
	scopeTenantOrProject
)

type rule struct {
	perm  Permission
	scope scope
}

// methodRules maps every full method name of the identity services to what
// it requires. A method missing here is denied (and a test fails), so a new
// RPC cannot ship unguarded.
var methodRules = map[string]rule{
	identityv1.ProjectService_GetProject_FullMethodName:    {PermProjectRead, scopeProject},
	identityv1.ProjectService_UpdateProject_FullMethodName: {PermProjectWrite, scopeProject},

	identityv1.TenantService_CreateTenant_FullMethodName: {PermTenantWrite, scopeProject},
	identityv1.TenantService_GetTenant_FullMethodName:    {PermTenantRead, scopeTenant},
	identityv1.TenantService_ListTenants_FullMethodName:  {PermTenantList, scopeProject},
	identityv1.TenantService_UpdateTenant_FullMethodName: {PermTenantWrite, scopeProject},
	identityv1.TenantService_DeleteTenant_FullMethodName: {PermTenantWrite, scopeProject},

	identityv1.UserService_CreateUser_FullMethodName: {PermUserWrite, scopeTenant},
	identityv1.UserService_GetUser_FullMethodName:    {PermUserRead, scopeTenant},
	identityv1.UserService_ListUsers_FullMethodName:  {PermUserRead, scopeTenant},
	identityv1.UserService_UpdateUser_FullMethodName: {PermUserWrite, scopeTenant},
	identityv1.UserService_DeleteUser_FullMethodName: {PermUserWrite, scopeTenant},

	identityv1.GroupService_CreateGroup_FullMethodName:        {PermGroupWrite, scopeTenant},
	identityv1.GroupService_GetGroup_FullMethodName:           {PermGroupRead, scopeTenant},
	identityv1.GroupService_ListGroups_FullMethodName:         {PermGroupRead, scopeTenant},
	identityv1.GroupService_UpdateGroup_FullMethodName:        {PermGroupWrite, scopeTenant},
	identityv1.GroupService_DeleteGroup_FullMethodName:        {PermGroupWrite, scopeTenant},
	identityv1.GroupService_AddGroupMembers_FullMethodName:    {PermGroupWrite, scopeTenant},
	identityv1.GroupService_RemoveGroupMembers_FullMethodName: {PermGroupWrite, scopeTenant},
	identityv1.GroupService_ListGroupMembers_FullMethodName:   {PermGroupRead, scopeTenant},

	identityv1.RoleService_CreateRole_FullMethodName:        {PermRoleWrite, scopeTenant},
	identityv1.RoleService_GetRole_FullMethodName:           {PermRoleRead, scopeTenant},
	identityv1.RoleService_ListRoles_FullMethodName:         {PermRoleRead, scopeTenant},
	identityv1.RoleService_UpdateRole_FullMethodName:        {PermRoleWrite, scopeTenant},
	identityv1.RoleService_DeleteRole_FullMethodName:        {PermRoleWrite, scopeTenant},
	identityv1.RoleService_AssignRoles_FullMethodName:       {PermRoleWrite, scopeTenant},
	identityv1.RoleService_UnassignRoles_FullMethodName:     {PermRoleWrite, scopeTenant},
	identityv1.RoleService_ListAssignedRoles_FullMethodName: {PermRoleRead, scopeTenant},

	identityv1.AccessKeyService_CreateAccessKey_FullMethodName: {PermAccessKeyEdit, scopeProject},
	identityv1.AccessKeyService_GetAccessKey_FullMethodName:    {PermAccessKeyRead, scopeProject},
	identityv1.AccessKeyService_ListAccessKeys_FullMethodName:  {PermAccessKeyRead, scopeProject},
	identityv1.AccessKeyService_UpdateAccessKey_FullMethodName: {PermAccessKeyEdit, scopeProject},
	identityv1.AccessKeyService_RevokeAccessKey_FullMethodName: {PermAccessKeyEdit, scopeProject},
	identityv1.AccessKeyService_DeleteAccessKey_FullMethodName: {PermAccessKeyEdit, scopeProject},

	identityv1.OAuthClientService_CreateOAuthClient_FullMethodName:       {PermClientWrite, scopeProject},
	identityv1.OAuthClientService_GetOAuthClient_FullMethodName:          {PermClientRead, scopeProject},
	identityv1.OAuthClientService_ListOAuthClients_FullMethodName:        {PermClientRead, scopeProject},
	identityv1.OAuthClientService_UpdateOAuthClient_FullMethodName:       {PermClientWrite, scopeProject},
	identityv1.OAuthClientService_DeleteOAuthClient_FullMethodName:       {PermClientWrite, scopeProject},
	identityv1.OAuthClientService_RotateOAuthClientSecret_FullMethodName: {PermClientWrite, scopeProject},

	identityv1.SessionService_ListSessions_FullMethodName:   {PermSessionRead, scopeTenant},
	identityv1.SessionService_RevokeSessions_FullMethodName: {PermSessionWrite, scopeTenant},

	identityv1.SigningKeyService_ListSigningKeys_FullMethodName:  {PermKeysRead, scopeProject},
	identityv1.SigningKeyService_RotateSigningKey_FullMethodName: {PermKeysWrite, scopeProject},

	identityv1.SsoService_GetSamlConfig_FullMethodName:    {PermSsoRead, scopeTenant},
	identityv1.SsoService_SetSamlConfig_FullMethodName:    {PermSsoWrite, scopeTenant},
	identityv1.SsoService_DeleteSamlConfig_FullMethodName: {PermSsoWrite, scopeTenant},

	identityv1.ScimService_GetScimStatus_FullMethodName:     {PermScimRead, scopeTenant},
	identityv1.ScimService_EnableScim_FullMethodName:        {PermScimWrite, scopeTenant},
	identityv1.ScimService_DisableScim_FullMethodName:       {PermScimWrite, scopeTenant},
	identityv1.ScimService_RotateScimToken_FullMethodName:   {PermScimWrite, scopeTenant},
	identityv1.ScimService_ResolveScimTenant_FullMethodName: {"", scopeCaller},

	identityv1.GroupService_SetGroupMembers_FullMethodName: {PermGroupWrite, scopeTenant},
	identityv1.GroupService_ModifyGroup_FullMethodName:     {PermGroupWrite, scopeTenant},
	identityv1.GroupService_MapGroupRoles_FullMethodName:   {PermGroupWrite, scopeTenant},
	identityv1.GroupService_UnmapGroupRoles_FullMethodName: {PermGroupWrite, scopeTenant},
	identityv1.GroupService_ListGroupRoles_FullMethodName:  {PermGroupRead, scopeTenant},

	identityv1.AuthzService_CheckRole_FullMethodName:        {PermAuthzCheck, scopeTenant},
	identityv1.AuthzService_CheckPermission_FullMethodName:  {PermAuthzCheck, scopeTenant},
	identityv1.AuthzService_BatchCheck_FullMethodName:       {PermAuthzCheck, scopeTenant},
	identityv1.AuthzService_ListUserRoles_FullMethodName:    {PermAuthzCheck, scopeTenant},
	identityv1.AuthzService_ListRoleMembers_FullMethodName:  {PermAuthzCheck, scopeTenant},
	identityv1.AuthzService_WatchRoleChanges_FullMethodName: {PermAuthzCheck, scopeTenant},

	identityv1.AuditService_ListAuditEvents_FullMethodName:   {PermAuditRead, scopeTenantOrProject},
	identityv1.AuditService_StreamAuditEvents_FullMethodName: {PermAuditRead, scopeTenantOrProject},
	identityv1.AuditService_RecordScimRequest_FullMethodName: {PermScimReport, scopeTenant},
}

// publicMethods answer without a credential: they reveal nothing secret.
var publicMethods = map[string]bool{
	identityv1.SsoService_GetServiceProviderMetadata_FullMethodName: true,
	identityv1.SigningKeyService_GetJwks_FullMethodName:             true,
	// The sign-in calls authenticate their callers as their protocols do
	// (redirect URI, IdP signature, client secret or PKCE, access token).
	identityv1.SignInService_StartLogin_FullMethodName:    true,
	identityv1.SignInService_FinishLogin_FullMethodName:   true,
	identityv1.SignInService_ExchangeCode_FullMethodName:  true,
	identityv1.SignInService_GetUserInfo_FullMethodName:   true,
	identityv1.SignInService_RefreshTokens_FullMethodName: true,
	identityv1.SignInService_RevokeToken_FullMethodName:   true,
}

// RequestTenant returns the tenant a tenant-scoped request names.
func RequestTenant(req any) (string, bool) {
	switch r := req.(type) {
	case interface{ GetTenantId() string }:
		return r.GetTenantId(), true
	case *identityv1.UpdateUserRequest:
		return r.GetUser().GetTenantId(), true
	case *identityv1.UpdateGroupRequest:
		return r.GetGroup().GetTenantId(), true
	case *identityv1.UpdateRoleRequest:
		return r.GetRole().GetTenantId(), true
	case interface {
		GetFilter() *identityv1.AuditFilter
	}:
		return r.GetFilter().GetTenantId(), true
	}
	return "", false
}

// Writes says whether a method changes state: its permission is a write
// permission.
func Writes(fullMethod string) bool {
	return strings.HasSuffix(string(methodRules[fullMethod].perm), ".write")
}

// TenantScoped says whether a method acts on the one tenant its request
// names.
func TenantScoped(fullMethod string) bool { return methodRules[fullMethod].scope == scopeTenant }

// publicCalls is publicMethods keyed by service and method name, as
// interceptors receive a call (interceptors.CallMeta), so that the check every
// call makes, several times in the chain, joins no strings.
var publicCalls = func() map[[2]string]bool {
	calls := make(map[[2]string]bool, len(publicMethods))
	for full := range publicMethods {
		service, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
		calls[[2]string{service, method}] = true
	}
	return calls
}()

// IsPublic says whether a method of the identity services (its service's
// full name and its own name) answers without a credential.
func IsPublic(service, method string) bool { return publicCalls[[2]string{service, method}] }

// Target is what an authorized call may touch.
type Target struct {
	// TenantID is the one tenant of a tenant-scoped method ("": the whole
	// project).
	TenantID string
	// CallerOnly: the method answers about the caller and touches nothing
	// until it narrows its own scope.
	CallerOnly bool
}

// Authorize fails unless a caller with grants may call fullMethod with req,
// and returns what the call may touch. A tenant the caller holds nothing on is
// NotFound, exactly as a tenant that does not exist, so credentials never
// reveal other tenants; a tenant it holds something on, but not this
// permission, is PermissionDenied.
func Authorize(g Grants, fullMethod string, req any) (Target, error) {
	r, ok := methodRules[fullMethod]
	if !ok {
		return Target{}, status.Errorf(codes.PermissionDenied, "method %s is not open to callers", fullMethod)
	}
	switch r.scope {
	case scopeCaller:
		return Target{CallerOnly: true}, nil
	case scopeTenantOrProject:
		if tenantID, _ := RequestTenant(req); tenantID == "" {
			break
		}
		fallthrough
	case scopeTenant:
		tenantID, ok := RequestTenant(req)
		if !ok || tenantID == "" {
			// Validation requires the tenant of every tenant-scoped request;
			// this keeps an empty one from ever meaning the whole project.
			return Target{}, status.Errorf(codes.PermissionDenied, "method %s names no tenant", fullMethod)
		}
		if g.ProjectAdmin {
			return Target{TenantID: tenantID}, nil
		}
		perms, ok := g.tenants[tenantID]
		if !ok {
			return Target{}, apierr.NotFound("tenant", tenantID)
		}
		if !perms[r.perm] {
			return Target{}, status.Errorf(codes.PermissionDenied, "the credential lacks the permission %s on tenant %s", r.perm, tenantID)
		}
		return Target{TenantID: tenantID}, nil
	}
	if g.ProjectAdmin {
		return Target{}, nil
	}
	return Target{}, status.Errorf(codes.PermissionDenied, "the credential lacks the permission %s: it needs the %s role", r.perm, RoleProjectAdmin)
}
