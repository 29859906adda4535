package server_test

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
)

//go:embed testdata/saml/okta_one_cert.xml
var oktaMetadata string

// createKey makes an access key through the API and returns its credential.
func (e *env) createKey(t testing.TB, name string, expire *timestamppb.Timestamp, bindings ...*identityv1.RoleBinding) (string, string) {
	t.Helper()
	resp, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{Name: name, RoleBindings: bindings, ExpireTime: expire})
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return resp.GetCredential(), resp.GetAccessKey().GetId()
}

func projectAdmin() *identityv1.RoleBinding { return &identityv1.RoleBinding{Role: "Project Admin"} }

func tenantAdmin(tenantID string) *identityv1.RoleBinding {
	return &identityv1.RoleBinding{Role: "Tenant Admin", TenantId: tenantID}
}

// enableScim configures SAML on a tenant and enables SCIM, returning the token.
func (e *env) enableScim(t testing.TB, tenantID string) string {
	t.Helper()
	if _, err := e.sso.SetSamlConfig(e.ctx, &identityv1.SetSamlConfigRequest{
		TenantId: tenantID, Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: oktaMetadata},
	}); err != nil {
		t.Fatalf("configure SAML: %v", err)
	}
	resp, err := e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: tenantID})
	if err != nil {
		t.Fatalf("enable SCIM: %v", err)
	}
	return resp.GetToken()
}

// TestCredentialMatrix calls every service with every kind of credential and
// checks the code of each cell, on each database.
func TestCredentialMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		projectID, rootKey, _ := strings.Cut(e.credential, ":")
		t1, t2 := e.tenant(t), e.tenant(t)
		t1Admin, _ := e.createKey(t, "t1 admin", nil, tenantAdmin(t1))
		t2Admin, _ := e.createKey(t, "t2 admin", nil, tenantAdmin(t2))
		revoked, revokedID := e.createKey(t, "revoked", nil, projectAdmin())
		expiring, _ := e.createKey(t, "expiring", timestamppb.New(time.Now().Add(time.Hour)), projectAdmin())
		rotatedOut := e.enableScim(t, t1)
		rotation, err := e.scim.RotateScimToken(e.ctx, &identityv1.RotateScimTokenRequest{TenantId: t1, GracePeriod: durationpb.New(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		scimToken := rotation.GetToken()

		// Both keys and the old token work until revocation, expiry and the end
		// of the grace period.
		for _, cred := range []string{revoked, expiring, rotatedOut} {
			if _, err := e.tenants.GetTenant(withCredential(context.Background(), cred), &identityv1.GetTenantRequest{TenantId: t1}); err != nil {
				t.Fatalf("before revocation or expiry: %v", err)
			}
		}
		if _, err := e.keys.RevokeAccessKey(e.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: revokedID}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(3 * time.Hour)

		const (
			OK   = codes.OK
			Unau = codes.Unauthenticated
			Deny = codes.PermissionDenied
			NoTn = codes.NotFound
			Pre  = codes.FailedPrecondition
		)
		calls := []struct {
			name string
			call func(ctx context.Context) error
		}{
			{"ProjectService", func(ctx context.Context) error {
				_, err := e.projects.GetProject(ctx, &identityv1.GetProjectRequest{ProjectId: projectID})
				return err
			}},
			{"TenantService.Get", func(ctx context.Context) error {
				_, err := e.tenants.GetTenant(ctx, &identityv1.GetTenantRequest{TenantId: t1})
				return err
			}},
			{"TenantService.List", func(ctx context.Context) error {
				_, err := e.tenants.ListTenants(ctx, &identityv1.ListTenantsRequest{})
				return err
			}},
			{"UserService", func(ctx context.Context) error {
				_, err := e.users.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: t1})
				return err
			}},
			{"GroupService", func(ctx context.Context) error {
				_, err := e.groups.ListGroups(ctx, &identityv1.ListGroupsRequest{TenantId: t1})
				return err
			}},
			{"RoleService", func(ctx context.Context) error {
				_, err := e.roles.ListRoles(ctx, &identityv1.ListRolesRequest{TenantId: t1})
				return err
			}},
			{"AccessKeyService", func(ctx context.Context) error {
				_, err := e.keys.ListAccessKeys(ctx, &identityv1.ListAccessKeysRequest{})
				return err
			}},
			{"SsoService", func(ctx context.Context) error {
				_, err := e.sso.GetSamlConfig(ctx, &identityv1.GetSamlConfigRequest{TenantId: t1})
				return err
			}},
			{"ScimService.Status", func(ctx context.Context) error {
				_, err := e.scim.GetScimStatus(ctx, &identityv1.GetScimStatusRequest{TenantId: t1})
				return err
			}},
			{"ScimService.Resolve", func(ctx context.Context) error {
				_, err := e.scim.ResolveScimTenant(ctx, &identityv1.ResolveScimTenantRequest{})
				return err
			}},
		}
		creds := []struct {
			name   string
			header string
			want   []codes.Code // one per call, in order
		}{
			{"none", "", []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"malformed", "Bearer non-token", []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"not bearer", "Basic " + e.credential, []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"wrong secret", "Bearer " + e.credential + "x", []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"wrong project", "Bearer " + newUUID() + ":" + rootKey, []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"revoked", "Bearer " + revoked, []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"expired", "Bearer " + expiring, []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"rotated-out SCIM token", "Bearer " + rotatedOut, []codes.Code{Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau, Unau}},
			{"other tenant's key", "Bearer " + t2Admin, []codes.Code{Deny, NoTn, Deny, NoTn, NoTn, NoTn, Deny, NoTn, NoTn, Pre}},
			{"Tenant Admin", "Bearer " + t1Admin, []codes.Code{Deny, OK, Deny, OK, OK, OK, Deny, OK, OK, OK}},
			{"Project Admin", "Bearer " + e.credential, []codes.Code{OK, OK, OK, OK, OK, OK, OK, OK, OK, Deny}},
			{"SCIM token", "Bearer " + scimToken, []codes.Code{Deny, OK, Deny, OK, OK, OK, Deny, Deny, Deny, OK}},
		}
		for _, c := range creds {
			t.Run(c.name, func(t *testing.T) {
				ctx := context.Background()
				if c.header != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.header)
				}
				for i, call := range calls {
					if got := status.Code(call.call(ctx)); got != c.want[i] {
						t.Errorf("%s: got %v, want %v", call.name, got, c.want[i])
					}
				}
			})
		}
	})
}

func TestPublicMethods(t *testing.T) {
	e := newEnv(t, databases()[0])
	ctx := context.Background()
	t.Run("health", func(t *testing.T) {
		_, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		wantCode(t, err, codes.OK)
	})
	t.Run("reflection", func(t *testing.T) {
		stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		wantCode(t, err, codes.OK)
		if len(resp.GetListServicesResponse().GetService()) < 8 {
			t.Fatalf("reflection lists %v", resp.GetListServicesResponse().GetService())
		}
	})
	t.Run("SP metadata", func(t *testing.T) {
		tid := e.tenant(t)
		resp, err := e.sso.GetServiceProviderMetadata(ctx, &identityv1.GetServiceProviderMetadataRequest{TenantId: tid})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`entityID="https://id.example.com/saml/` + tid + `/metadata"`,
			`Location="https://id.example.com/saml/` + tid + `/acs"`,
		} {
			if !strings.Contains(resp.GetMetadataXml(), want) {
				t.Errorf("SP metadata lacks %s:\n%s", want, resp.GetMetadataXml())
			}
		}
		_, err = e.sso.GetServiceProviderMetadata(ctx, &identityv1.GetServiceProviderMetadataRequest{TenantId: newUUID()})
		wantCode(t, err, codes.NotFound)
	})
}

// TestScimCredentialResolution checks which tenant the SCIM gateway may serve
// for each credential, and that refusals say why.
func TestScimCredentialResolution(t *testing.T) {
	e := newEnv(t, databases()[0])
	t1, t2 := e.tenant(t), e.tenant(t)
	token := e.enableScim(t, t1)
	e.role(t, t1, "auditors")
	one, _ := e.createKey(t, "one", nil, tenantAdmin(t1))
	two, _ := e.createKey(t, "two", nil, tenantAdmin(t1), tenantAdmin(t2))
	roleOnly, _ := e.createKey(t, "role only", nil, &identityv1.RoleBinding{Role: "auditors", TenantId: t1})
	noSSO, _ := e.createKey(t, "no sso", nil, tenantAdmin(t2))
	tests := []struct {
		name       string
		cred       string
		wantCode   codes.Code
		wantTenant string
		wantInMsg  string
	}{
		{"SCIM token", token, codes.OK, t1, ""},
		{"Tenant Admin on one tenant", one, codes.OK, t1, ""},
		{"Tenant Admin on two tenants", two, codes.PermissionDenied, "", "Tenant Admin on 2 tenants"},
		{"tenant role only", roleOnly, codes.PermissionDenied, "", "Tenant Admin on no tenant"},
		{"Project Admin", e.credential, codes.PermissionDenied, "", "Project Admin alone"},
		{"tenant without SSO", noSSO, codes.FailedPrecondition, "", "configure SAML SSO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.scim.ResolveScimTenant(withCredential(context.Background(), tc.cred), &identityv1.ResolveScimTenantRequest{})
			wantCode(t, err, tc.wantCode)
			if resp.GetTenantId() != tc.wantTenant {
				t.Fatalf("tenant %q, want %q", resp.GetTenantId(), tc.wantTenant)
			}
			if !strings.Contains(status.Convert(err).Message(), tc.wantInMsg) {
				t.Fatalf("message %q lacks %q", status.Convert(err).Message(), tc.wantInMsg)
			}
		})
	}
}

// TestSecretsStayOutOfLogsAndDatabase scans the logs and the database files for
// the secrets of an access key and a SCIM token.
func TestSecretsStayOutOfLogsAndDatabase(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	key, _ := e.createKey(t, "k", nil, tenantAdmin(tid))
	token := e.enableScim(t, tid)
	// Traffic, good and bad, so that there is something to log.
	for _, cred := range []string{key, token, key + "x", token + "x"} {
		_, _ = e.users.ListUsers(withCredential(context.Background(), cred), &identityv1.ListUsersRequest{TenantId: tid})
	}
	var secrets []string
	for _, cred := range []string{e.credential, key, token} {
		_, secret, _ := strings.Cut(cred, ".")
		secrets = append(secrets, secret)
	}
	dbPath := strings.TrimPrefix(e.url, "file:")
	var stored []byte
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	if len(stored) == 0 {
		t.Fatalf("read nothing of %s", filepath.Base(dbPath))
	}
	for _, secret := range secrets {
		if strings.Contains(e.logs.String(), secret) {
			t.Error("a secret appears in the logs")
		}
		if strings.Contains(string(stored), secret) {
			t.Error("a secret is stored in the database")
		}
	}
}

// TestRevocationBoundAcrossInstances: a key revoked or a SCIM token disabled
// through one instance stops authenticating on another within
// authn.Recheck, whether or not that instance has followed the change log
// yet. The instances share a test clock, so the bound is checked without
// waiting: the clock moves past it.
func TestRevocationBoundAcrossInstances(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		a := newEnv(t, db)
		b := a.secondInstance(t)
		tid := a.tenant(t)
		cred, keyID := a.createKey(t, "service", nil, &identityv1.RoleBinding{Role: "Tenant Admin", TenantId: tid})
		key := withCredential(context.Background(), cred)
		if _, err := b.tenants.GetTenant(key, &identityv1.GetTenantRequest{TenantId: tid}); err != nil {
			t.Fatal(err) // b has verified and cached the key
		}
		if _, err := a.keys.RevokeAccessKey(a.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: keyID}); err != nil {
			t.Fatal(err)
		}
		_, err := a.tenants.GetTenant(key, &identityv1.GetTenantRequest{TenantId: tid})
		wantCode(t, err, codes.Unauthenticated) // the revoking instance: at once
		a.clock.Advance(authn.Recheck)
		_, err = b.tenants.GetTenant(key, &identityv1.GetTenantRequest{TenantId: tid})
		wantCode(t, err, codes.Unauthenticated) // the other: within the bound

		xml := readTestdata(t, "okta_one_cert.xml")
		if _, err := a.sso.SetSamlConfig(a.ctx, &identityv1.SetSamlConfigRequest{TenantId: tid,
			Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: xml}}); err != nil {
			t.Fatal(err)
		}
		enabled, err := a.scim.EnableScim(a.ctx, &identityv1.EnableScimRequest{TenantId: tid})
		if err != nil {
			t.Fatal(err)
		}
		token := withCredential(context.Background(), enabled.GetToken())
		if _, err := b.scim.ResolveScimTenant(token, &identityv1.ResolveScimTenantRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.scim.DisableScim(a.ctx, &identityv1.DisableScimRequest{TenantId: tid}); err != nil {
			t.Fatal(err)
		}
		a.clock.Advance(authn.Recheck)
		_, err = b.scim.ResolveScimTenant(token, &identityv1.ResolveScimTenantRequest{})
		wantCode(t, err, codes.Unauthenticated)
	})
}
