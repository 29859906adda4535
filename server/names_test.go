package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store/scope"
)

// TestLookAlikeNames: names are compared by RFC 8265 keys, so look-alikes
// are one name (AlreadyExists), and what the rules refuse (invisible and
// control characters, bidi overrides, spaces in user names) is
// InvalidArgument naming the field, never stored altered.
func TestLookAlikeNames(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		e.user(t, tid, "jos\u00e9@example.com") // é precomposed
		e.group(t, tid, "Caf\u00e9 Team")       // é precomposed, with a space
		e.role(t, tid, "auditor")
		users := []struct {
			name, userName string
			emails         []string
			want           codes.Code
			field          string
		}{
			{"decomposed é", "jose\u0301@example.com", nil, codes.AlreadyExists, ""},
			{"other case and width", "ＪＯＳÉ@example.com", nil, codes.AlreadyExists, ""},
			{"zero-width space", "ad\u200ba@example.com", nil, codes.InvalidArgument, "user.user_name"},
			{"zero-width joiner", "ad\u200da@example.com", nil, codes.InvalidArgument, "user.user_name"},
			{"byte order mark", "\ufeffada@example.com", nil, codes.InvalidArgument, "user.user_name"},
			{"right-to-left override", "ada\u202e@example.com", nil, codes.InvalidArgument, "user.user_name"},
			{"non-breaking space", "ada\u00a0lovelace", nil, codes.InvalidArgument, "user.user_name"},
			{"trailing space", "ada@example.com ", nil, codes.InvalidArgument, "user.user_name"},
			{"an email with an invisible character", "grace@example.com", []string{"gr\u200bace@example.com"}, codes.InvalidArgument, ""}, // refused by validation (an email address)
			{"a plain new name", "grace@example.com", []string{"grace@example.com"}, codes.OK, ""},
		}
		for _, c := range users {
			t.Run("user "+c.name, func(t *testing.T) {
				u := &identityv1.User{UserName: c.userName}
				for _, m := range c.emails {
					u.Emails = append(u.Emails, &identityv1.Email{Value: m})
				}
				_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: u})
				wantCode(t, err, c.want)
				if c.field != "" && violatedField(err) != c.field {
					t.Fatalf("violation names %q, want %q", violatedField(err), c.field)
				}
			})
		}
		groups := []struct {
			name, displayName string
			want              codes.Code
		}{
			{"decomposed é", "Cafe\u0301 Team", codes.AlreadyExists},
			{"non-breaking space is a space", "caf\u00e9\u00a0team", codes.AlreadyExists},
			{"zero-width space", "Caf\u00e9\u200b Team", codes.InvalidArgument},
			{"leading space", " Platform", codes.InvalidArgument},
			{"replacement character", "Plat\ufffdform", codes.InvalidArgument},
			{"fullwidth", "ＣＡＦÉ TEAM", codes.AlreadyExists},
			{"mathematical bold", "𝐂𝐚𝐟𝐞\u0301 𝐓𝐞𝐚𝐦", codes.AlreadyExists},
			{"two spaces", "Café  Team", codes.AlreadyExists},
		}
		for _, c := range groups {
			t.Run("group "+c.name, func(t *testing.T) {
				_, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid, Group: &identityv1.Group{DisplayName: c.displayName}})
				wantCode(t, err, c.want)
			})
		}
		_, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: "AUDITOR"}})
		wantCode(t, err, codes.AlreadyExists)

		// Lookups use the same keys: the decomposed spelling finds the user.
		if _, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid,
			User: &identityv1.UserRef{Ref: &identityv1.UserRef_UserName{UserName: "JOSE\u0301@example.com"}}}); err != nil {
			t.Fatalf("look up by a look-alike spelling: %v", err)
		}
	})
}

// TestNamesStoredBeforeTheRule: a user and a group stored under names the
// rule now refuses can still be updated (an IdP repeats the name in every
// PUT and deactivation); only a new name is checked.
func TestNamesStoredBeforeTheRule(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		sys := scope.System(context.Background())
		now := time.Now().UTC().Truncate(time.Microsecond)
		uid, gid := newUUID(), newUUID()
		e.db.User.Create().SetID(uid).SetTenantID(tid).SetUserName("John Smith").SetUserNameKey("john smith").
			SetActive(true).SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)
		e.db.Group.Create().SetID(gid).SetTenantID(tid).SetDisplayName(" Legacy").SetDisplayNameKey(" legacy").
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)

		_, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User:       &identityv1.User{TenantId: tid, Id: uid, UserName: "John Smith", Active: proto.Bool(false)},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"user_name", "active"}},
		})
		if err != nil {
			t.Fatalf("deactivating a user named before the rule: %v", err)
		}
		_, err = e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User:       &identityv1.User{TenantId: tid, Id: uid, UserName: "John Q. Smith"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"user_name"}},
		})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.groups.ModifyGroup(e.ctx, &identityv1.ModifyGroupRequest{TenantId: tid, GroupId: gid, Changes: []*identityv1.GroupChange{
			{Change: &identityv1.GroupChange_DisplayName{DisplayName: " Legacy"}},
			{Change: &identityv1.GroupChange_ExternalId{ExternalId: "ext"}},
		}})
		if err != nil {
			t.Fatalf("a PUT of a group named before the rule: %v", err)
		}
	})
}
