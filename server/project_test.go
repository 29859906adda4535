package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

func TestProjectAndTenants(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		projectID, _, _ := strings.Cut(e.credential, ":")
		got, err := e.projects.GetProject(e.ctx, &identityv1.GetProjectRequest{ProjectId: projectID})
		if err != nil || got.GetProject().GetDisplayName() != "test" {
			t.Fatalf("get project: %v %v", got, err)
		}
		_, err = e.projects.GetProject(e.ctx, &identityv1.GetProjectRequest{ProjectId: newUUID()})
		wantCode(t, err, codes.NotFound)
		upd, err := e.projects.UpdateProject(e.ctx, &identityv1.UpdateProjectRequest{
			Project: &identityv1.Project{Id: projectID, DisplayName: "Acme"}, UpdateMask: maskOf("display_name"),
		})
		if err != nil || upd.GetProject().GetDisplayName() != "Acme" || upd.GetProject().GetRevision() != upd.GetRevision() {
			t.Fatalf("update project: %v %v", upd, err)
		}
		_, err = e.projects.UpdateProject(e.ctx, &identityv1.UpdateProjectRequest{
			Project: &identityv1.Project{Id: newUUID(), DisplayName: "x"}, UpdateMask: maskOf("display_name"),
		})
		wantCode(t, err, codes.NotFound)

		for _, name := range []string{"alpha", "beta", "gamma"} {
			if _, err := e.tenants.CreateTenant(e.ctx, &identityv1.CreateTenantRequest{DisplayName: name}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		token := ""
		for {
			page, err := e.tenants.ListTenants(e.ctx, &identityv1.ListTenantsRequest{PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if page.GetTotalSize() != 3 {
				t.Fatalf("total %d", page.GetTotalSize())
			}
			for _, tn := range page.GetTenants() {
				names = append(names, tn.GetDisplayName())
			}
			if token = page.GetNextPageToken(); token == "" {
				break
			}
		}
		if strings.Join(names, ",") != "alpha,beta,gamma" {
			t.Fatalf("listed %v", names)
		}
		byName, err := e.tenants.ListTenants(e.ctx, &identityv1.ListTenantsRequest{Filter: &identityv1.TenantFilter{DisplayName: prefix("be")}})
		if err != nil || len(byName.GetTenants()) != 1 {
			t.Fatalf("filtered: %v %v", byName, err)
		}
		tid, v := byName.GetTenants()[0].GetId(), byName.GetTenants()[0].GetVersion()
		ren, err := e.tenants.UpdateTenant(e.ctx, &identityv1.UpdateTenantRequest{
			Tenant: &identityv1.Tenant{Id: tid, DisplayName: "Beta"}, UpdateMask: maskOf("display_name"),
		})
		if err != nil || ren.GetTenant().GetDisplayName() != "Beta" || ren.GetTenant().GetVersion() != v+1 {
			t.Fatalf("rename: %v %v", ren, err)
		}
		_, err = e.tenants.UpdateTenant(e.ctx, &identityv1.UpdateTenantRequest{
			Tenant: &identityv1.Tenant{Id: newUUID(), DisplayName: "x"}, UpdateMask: maskOf("display_name"),
		})
		wantCode(t, err, codes.NotFound)
		roles, err := e.roles.ListRoles(e.ctx, &identityv1.ListRolesRequest{TenantId: tid})
		if err != nil || len(roles.GetRoles()) != 0 {
			t.Fatalf("roles of a new tenant: %v %v", roles, err)
		}
	})
}
