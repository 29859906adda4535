package server_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/signingkey"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestIsolation calls every method of every identity.v1 service (found by
// walking the service descriptors, so a new RPC is covered without editing
// this test) with another project's and another tenant's ids, on every
// database, and requires that nothing of the victim tenant is read, revealed
// or changed:
//   - other project: the root key of a second project names the victim's
//     tenant and resources: every method that names one answers NotFound;
//   - other tenant: the project's root key names its own second tenant and
//     the victim tenant's users, groups, roles: a tenant-scoped method that
//     names one answers NotFound or reveals nothing;
//   - tenant admin: a key holding Tenant Admin on the second tenant names the
//     victim tenant: every tenant-scoped method answers NotFound.
//
// After every call the victim tenant's rows are as they were, and no answer
// contains a victim id or name.
func TestIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		v := newVictim(t, e)
		before := v.snapshot(t)
		other := withCredential(context.Background(), e.otherProject(t))
		attackerTenant := e.tenant(t)
		admin := withCredential(context.Background(), e.tenantAdminKey(t, attackerTenant))

		cases := []struct {
			name string
			ctx  context.Context
			// ids maps an id field to the value the attacker sends.
			ids ids
			// tenantOnly: only tenant-scoped methods are asked.
			tenantOnly bool
			// strict: every call that names a victim id must be NotFound;
			// otherwise an answer that reveals nothing is also fine.
			strict bool
		}{
			{"other project", other, v.ids, false, true},
			{"other tenant", e.ctx, v.ids.withTenant(attackerTenant), true, false},
			{"tenant admin", admin, v.ids, true, true},
		}
		methods := identityMethods(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, m := range methods {
					if service, method, _ := strings.Cut(strings.TrimPrefix(m.full, "/"), "/"); authz.IsPublic(service, method) || (c.tenantOnly && !authz.TenantScoped(m.full)) {
						continue
					}
					req := m.request(t, c.ids)
					code, answer := m.call(c.ctx, e.conn, req)
					names := v.named(req)
					switch {
					case code == codes.NotFound:
					case names != "" && c.strict:
						t.Errorf("%s naming %s answered %v, want NotFound", m.full, names, code)
					case v.leaks(answer) != "":
						t.Errorf("%s answered %s, which reveals the victim's %s", m.full, answer, v.leaks(answer))
					}
					if after := v.snapshot(t); after != before {
						t.Fatalf("%s (%v) changed the victim tenant:\nbefore %s\nafter  %s", m.full, code, before, after)
					}
				}
			})
		}
	})
}

// ids are the values an attacker puts in id fields.
type ids struct {
	project, tenant, user, group, role, key, client string
}

func (i ids) withTenant(tenantID string) ids {
	i.tenant = tenantID
	return i
}

// byField returns the id a field named name carries, if it is an id field.
func (i ids) byField(name string) (string, bool) {
	switch name {
	case "project_id":
		return i.project, true
	case "tenant_id":
		return i.tenant, true
	case "user_id", "user_ids", "member_user_id", "member_user_ids":
		return i.user, true
	case "group_id", "group_ids":
		return i.group, true
	case "role_id", "role_ids":
		return i.role, true
	case "access_key_id":
		return i.key, true
	case "client_id":
		return i.client, true
	}
	return "", false
}

// byMessage returns the id a resource message's id field carries.
func (i ids) byMessage(name protoreflect.Name) (string, bool) {
	switch name {
	case "Project":
		return i.project, true
	case "Tenant":
		return i.tenant, true
	case "User":
		return i.user, true
	case "Group":
		return i.group, true
	case "Role":
		return i.role, true
	case "AccessKey":
		return i.key, true
	case "OAuthClient":
		return i.client, true
	}
	return "", false
}

// victim is a tenant with one of everything.
type victim struct {
	e    *env
	ids  ids
	text []string // its ids and names, which no answer to an attacker may hold
}

func newVictim(t *testing.T, e *env) *victim {
	t.Helper()
	tid := e.tenant(t)
	u, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{
		UserName: "victim-user@victim.example", Emails: []*identityv1.Email{{Value: "victim-user@victim.example", Primary: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	uid := u.GetUser().GetId()
	g := e.group(t, tid, "VictimGroup", uid)
	r, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: "victim-role", Permissions: []string{"victim:read"}}})
	if err != nil {
		t.Fatal(err)
	}
	rid := r.GetRole().GetId()
	if _, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: uid, RoleIds: []string{rid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.groups.MapGroupRoles(e.ctx, &identityv1.MapGroupRolesRequest{TenantId: tid, GroupId: g.GetId(), RoleIds: []string{rid}}); err != nil {
		t.Fatal(err)
	}
	xml, err := os.ReadFile("testdata/saml/okta_one_cert.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sso.SetSamlConfig(e.ctx, &identityv1.SetSamlConfigRequest{TenantId: tid,
		Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: string(xml)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: tid}); err != nil {
		t.Fatal(err)
	}
	k, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{Name: "victim-key",
		RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tid}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := identityv1.NewOAuthClientServiceClient(e.conn).CreateOAuthClient(e.ctx, &identityv1.CreateOAuthClientRequest{
		DisplayName: "victim-client", RedirectUris: []string{"https://victim.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.projects.GetProject(e.ctx, &identityv1.GetProjectRequest{ProjectId: strings.Split(e.credential, ":")[0]})
	if err != nil {
		t.Fatal(err)
	}
	v := &victim{e: e, ids: ids{project: p.GetProject().GetId(), tenant: tid, user: uid, group: g.GetId(), role: rid, key: k.GetAccessKey().GetId(), client: c.GetClient().GetId()}}
	v.text = []string{tid, uid, g.GetId(), rid, "victim-user", "VictimGroup", "victim-role", "victim:read", c.GetClient().GetId(), "victim-client"}
	return v
}

// snapshot renders every row of the victim tenant, and the project's keys
// bound to it, read as the system.
func (v *victim) snapshot(t *testing.T) string {
	t.Helper()
	ctx, db, tid := scope.System(context.Background()), v.e.db, v.ids.tenant
	var b strings.Builder
	add := func(what string, rows any, err error) {
		if err != nil {
			t.Fatalf("snapshot %s: %v", what, err)
		}
		fmt.Fprintf(&b, "%s: %v\n", what, rows)
	}
	tenantRows := func(table string) {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE tenant_id = $1", tid)
		if err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
			n++
		}
		fmt.Fprintf(&b, "%s: %d rows\n", table, n)
	}
	for _, table := range scope.Confined() {
		if table != "tenants" && table != "access_keys" && table != "oauth_clients" && table != "signing_keys" {
			tenantRows(table)
		}
	}
	tn, err := db.Tenant.Get(ctx, tid)
	add("tenant", tn, err)
	k, err := db.AccessKey.Get(ctx, v.ids.key)
	add("key", k, err)
	cl, err := db.OAuthClient.Get(ctx, v.ids.client)
	add("client", cl, err)
	sk, err := db.SigningKey.Query().Where(signingkey.ProjectID(v.ids.project)).Order(ent.Asc(signingkey.FieldID)).All(ctx)
	add("signing keys", sk, err)
	p, err := db.Project.Get(ctx, v.ids.project)
	add("project", p.DisplayName, err)
	return b.String()
}

// named lists the victim ids a request names.
func (v *victim) named(req proto.Message) string {
	var out []string
	text := prototext.Format(req)
	for _, id := range []string{v.ids.tenant, v.ids.user, v.ids.group, v.ids.role, v.ids.key, v.ids.client, v.ids.project} {
		if strings.Contains(text, id) {
			out = append(out, id)
		}
	}
	return strings.Join(out, ", ")
}

// leaks returns what of the victim an answer holds: an id, a name, or a
// check that allowed something.
func (v *victim) leaks(answer string) string {
	for _, s := range v.text {
		if strings.Contains(answer, s) {
			return s
		}
	}
	if strings.Contains(answer, "allowed:true") || strings.Contains(answer, "allowed: true") {
		return "role (a check allowed)"
	}
	return ""
}

// otherProject creates a second project straight in the database, as
// another deployment's `identityd init` would, and returns its root
// credential.
func (e *env) otherProject(t *testing.T) string {
	t.Helper()
	ctx := scope.System(context.Background())
	now := time.Now().UTC()
	pid := store.NewID()
	if err := e.db.Project.Create().SetID(pid).SetDisplayName("other").SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keyID, key, hash, err := authn.NewAccessKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.AccessKey.Create().SetID(keyID).SetProjectID(pid).SetName("root").SetSecretHash(hash).
		SetRoleBindings([]schema.RoleBinding{{Role: authz.RoleProjectAdmin}}).SetCreateTime(now).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return authn.FormatCredential(pid, key)
}

// tenantAdminKey returns the credential of a new key with Tenant Admin on
// tenantID.
func (e *env) tenantAdminKey(t *testing.T, tenantID string) string {
	t.Helper()
	k, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{Name: "attacker",
		RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tenantID}}})
	if err != nil {
		t.Fatal(err)
	}
	return k.GetCredential()
}

// method is one RPC of the identity services.
type method struct {
	full string
	desc protoreflect.MethodDescriptor
}

func identityMethods(t *testing.T) []method {
	t.Helper()
	var out []method
	protoregistry.GlobalFiles.RangeFilesByPackage("identity.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				out = append(out, method{full: "/" + string(sd.FullName()) + "/" + string(md.Name()), desc: md})
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("found no identity.v1 methods")
	}
	return out
}

var validator = func() protovalidate.Validator {
	v, err := protovalidate.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// request builds a valid request of the method with the given ids in every
// id field: what validation requires (required fields, required oneofs, the
// first allowed update-mask path), and every id. It fails the test when the
// request it builds is not valid, so a new kind of rule is noticed.
func (m method) request(t *testing.T, with ids) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(m.desc.Input().FullName())
	if err != nil {
		t.Fatal(err)
	}
	req := mt.New()
	fill(req, with, true)
	if err := validator.Validate(req.Interface()); err != nil {
		t.Fatalf("%s: the isolation test cannot build a valid request (teach fill about this rule): %v\n%s",
			m.full, err, prototext.Format(req.Interface()))
	}
	return req.Interface()
}

func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return r
}

func oneofRequired(od protoreflect.OneofDescriptor) bool {
	r, _ := proto.GetExtension(od.Options(), validate.E_Oneof).(*validate.OneofRules)
	return r.GetRequired()
}

// requiredByMessageRules names fields that a message-level CEL rule requires
// (fill reads field rules only).
var requiredByMessageRules = map[protoreflect.FullName]protoreflect.Name{
	"identity.v1.BatchCheckRequest": "checks", // checks or columns, one of them
}

// fill sets the ids and what validation requires of m. top is the request
// itself: below it, resource messages get every plain string set, as their
// field-level rules (a display name that cannot be empty) expect.
func fill(m protoreflect.Message, with ids, top bool) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		rules := fieldRules(fd)
		id, isID := with.byField(string(fd.Name()))
		if fd.Name() == "id" {
			id, isID = with.byMessage(m.Descriptor().Name())
		}
		need := rules.GetRequired() || rules.GetString().GetMinLen() > 0 || rules.GetRepeated().GetMinItems() > 0 ||
			requiredByMessageRules[m.Descriptor().FullName()] == fd.Name()
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if m.WhichOneof(od) != nil || (!isID && (!oneofRequired(od) || od.Fields().Get(0) != fd)) {
				continue
			}
			need = true
		}
		switch {
		case isID && fd.IsList() && fd.Kind() == protoreflect.StringKind:
			m.Mutable(fd).List().Append(protoreflect.ValueOfString(id))
		case isID && fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(id))
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.FieldMask":
			// The first path the mask may name other than "*".
			for _, p := range rules.GetFieldMask().GetIn() {
				if p != "*" {
					m.Set(fd, protoreflect.ValueOfMessage((&fieldmaskpb.FieldMask{Paths: []string{p}}).ProtoReflect()))
					break
				}
			}
		case fd.Message() != nil && fd.IsList():
			if need {
				fill(m.Mutable(fd).List().AppendMutable().Message(), with, false)
			}
		case fd.Message() != nil && !fd.IsMap():
			if need {
				fill(m.Mutable(fd).Message(), with, false)
			}
		case fd.Kind() == protoreflect.StringKind && fd.IsList():
			if need {
				m.Mutable(fd).List().Append(protoreflect.ValueOfString("iso"))
			}
		case fd.Kind() == protoreflect.StringKind:
			if need || !top {
				m.Set(fd, protoreflect.ValueOfString(sample(fd, rules)))
			}
		case fd.Kind() == protoreflect.EnumKind && need:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.Int32Kind && rules.GetInt32().GetGte() > 0:
			m.Set(fd, protoreflect.ValueOfInt32(rules.GetInt32().GetGte()))
		}
	}
}

// sample is a value a string field with these rules accepts.
func sample(fd protoreflect.FieldDescriptor, rules *validate.FieldRules) string {
	s := rules.GetString()
	switch {
	case s.GetEmail():
		return "iso@attacker.example"
	case s.GetUri():
		return "https://idp.attacker.example/metadata"
	case s.GetUuid():
		return store.NewID()
	case fd.Name() == "role":
		return authz.RoleTenantAdmin
	}
	return "iso"
}

// call invokes the method with req and returns the code and the answer as
// text (of a stream, every message it sent before the deadline).
func (m method) call(ctx context.Context, conn *grpc.ClientConn, req proto.Message) (codes.Code, string) {
	mt, _ := protoregistry.GlobalTypes.FindMessageByName(m.desc.Output().FullName())
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if !m.desc.IsStreamingServer() {
		resp := mt.New().Interface()
		err := conn.Invoke(ctx, m.full, req, resp)
		return statusCode(err), prototext.Format(resp)
	}
	ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.full)
	if err != nil {
		return statusCode(err), ""
	}
	if err := s.SendMsg(req); err != nil {
		return statusCode(err), ""
	}
	_ = s.CloseSend()
	var text strings.Builder
	for {
		resp := mt.New().Interface()
		if err := s.RecvMsg(resp); err != nil {
			if ctx.Err() != nil {
				return codes.OK, text.String() // a watch that follows its own tenant
			}
			return statusCode(err), text.String()
		}
		text.WriteString(prototext.Format(resp))
	}
}
