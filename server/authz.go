package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// Permission is what a method requires of its caller.
type Permission string

// The permissions. Root keys hold all of them; keys with narrower role
// bindings come with access keys and tenant roles.
const (
	PermProjectRead  Permission = "project.read"
	PermProjectWrite Permission = "project.write"
	PermTenantRead   Permission = "tenant.read"
	PermTenantWrite  Permission = "tenant.write"
	PermUserRead     Permission = "user.read"
	PermUserWrite    Permission = "user.write"
	PermGroupRead    Permission = "group.read"
	PermGroupWrite   Permission = "group.write"
	PermRoleRead     Permission = "role.read"
	PermRoleWrite    Permission = "role.write"
)

// methodPermissions maps every full method name of the identity services to
// the permission it requires. A method missing here is denied (and a test
// fails), so a new RPC cannot ship unguarded.
var methodPermissions = map[string]Permission{
	identityv1.ProjectService_GetProject_FullMethodName:    PermProjectRead,
	identityv1.ProjectService_UpdateProject_FullMethodName: PermProjectWrite,

	identityv1.TenantService_CreateTenant_FullMethodName: PermTenantWrite,
	identityv1.TenantService_GetTenant_FullMethodName:    PermTenantRead,
	identityv1.TenantService_ListTenants_FullMethodName:  PermTenantRead,
	identityv1.TenantService_UpdateTenant_FullMethodName: PermTenantWrite,
	identityv1.TenantService_DeleteTenant_FullMethodName: PermTenantWrite,

	identityv1.UserService_CreateUser_FullMethodName: PermUserWrite,
	identityv1.UserService_GetUser_FullMethodName:    PermUserRead,
	identityv1.UserService_ListUsers_FullMethodName:  PermUserRead,
	identityv1.UserService_UpdateUser_FullMethodName: PermUserWrite,
	identityv1.UserService_DeleteUser_FullMethodName: PermUserWrite,

	identityv1.GroupService_CreateGroup_FullMethodName:        PermGroupWrite,
	identityv1.GroupService_GetGroup_FullMethodName:           PermGroupRead,
	identityv1.GroupService_ListGroups_FullMethodName:         PermGroupRead,
	identityv1.GroupService_UpdateGroup_FullMethodName:        PermGroupWrite,
	identityv1.GroupService_DeleteGroup_FullMethodName:        PermGroupWrite,
	identityv1.GroupService_AddGroupMembers_FullMethodName:    PermGroupWrite,
	identityv1.GroupService_RemoveGroupMembers_FullMethodName: PermGroupWrite,
	identityv1.GroupService_ListGroupMembers_FullMethodName:   PermGroupRead,

	identityv1.RoleService_CreateRole_FullMethodName:        PermRoleWrite,
	identityv1.RoleService_GetRole_FullMethodName:           PermRoleRead,
	identityv1.RoleService_ListRoles_FullMethodName:         PermRoleRead,
	identityv1.RoleService_UpdateRole_FullMethodName:        PermRoleWrite,
	identityv1.RoleService_DeleteRole_FullMethodName:        PermRoleWrite,
	identityv1.RoleService_AssignRoles_FullMethodName:       PermRoleWrite,
	identityv1.RoleService_UnassignRoles_FullMethodName:     PermRoleWrite,
	identityv1.RoleService_ListAssignedRoles_FullMethodName: PermRoleRead,
}

// authorize fails with PermissionDenied unless the caller holds the permission
// that fullMethod requires.
func authorize(ctx context.Context, fullMethod string) error {
	perm, ok := methodPermissions[fullMethod]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "method %s is not open to access keys", fullMethod)
	}
	if p := principalFrom(ctx); !p.Root {
		return status.Errorf(codes.PermissionDenied, "the access key lacks the permission %s", perm)
	}
	return nil
}
