package scim_test

import (
	"strings"
	"testing"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance/instancetest"
)

// TestScimRequestsAudited sends an IdP's requests through the real server
// and reads them back from the audit trail: each SCIM request, succeeded or
// failed, with its status, SCIM error and a summary that names attributes
// but never values (no password), linked by its X-Request-Id to the write it
// made, on each database (the write answered at commit, its event stored as
// it is numbered, is on the trail a list reads at once).
func TestScimRequestsAudited(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) { scimRequestsAudited(t, newEnvOn(t, instancetest.StartOn(t, db.URL(t)))) })
	}
}

func scimRequestsAudited(t *testing.T, e *env) {
	created := call(t, e, e.token, "POST", "/Users", body(t, "okta/create_user.json")).want(t, 201)
	id := created.str("id")
	bad := call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","nickNames":"y"}`).want(t, 400)
	patch := call(t, e, e.admin, "PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","value":{"active":false,"password":"S3cret!"}}]}`, "X-Request-Id", "okta-req-42").want(t, 200)
	if patch.header.Get("X-Request-Id") != "okta-req-42" || created.header.Get("X-Request-Id") == "" {
		t.Fatalf("request ids answered: %q, %q", patch.header.Get("X-Request-Id"), created.header.Get("X-Request-Id"))
	}

	resp, err := identityv1.NewAuditServiceClient(e.srv.Conn).ListAuditEvents(instancetest.Context(e.srv.Credential),
		&identityv1.ListAuditEventsRequest{Filter: &identityv1.AuditFilter{TenantId: e.tenant}})
	if err != nil {
		t.Fatal(err)
	}
	status, err := identityv1.NewScimServiceClient(e.srv.Conn).GetScimStatus(instancetest.Context(e.srv.Credential),
		&identityv1.GetScimStatusRequest{TenantId: e.tenant})
	if err != nil || len(status.GetTokens()) != 1 {
		t.Fatalf("SCIM status: %v, %v", status, err)
	}
	tokenID := status.GetTokens()[0].GetId()
	byRequest := map[string][]*identityv1.AuditEvent{}
	var scim []*identityv1.AuditEvent
	for _, ev := range resp.GetEvents() {
		byRequest[ev.GetRequestId()] = append(byRequest[ev.GetRequestId()], ev)
		if ev.GetKind() == identityv1.AuditEventKind_AUDIT_EVENT_KIND_SCIM_REQUEST {
			scim = append(scim, ev)
		}
		if strings.Contains(ev.String(), "S3cret") {
			t.Errorf("the trail holds a password: %v", ev)
		}
	}
	if len(scim) != 3 {
		t.Fatalf("%d SCIM request events, want 3: %v", len(scim), scim)
	}
	tests := []struct {
		event               *identityv1.AuditEvent
		method, path, ops   string
		status              int32
		scimType, actorKind string
		requestID           string
		writes              int
	}{
		{scim[2], "POST", "/Users", "attributes: active, displayName, emails, externalId, groups, locale, name, password, userName", 201, "", "KIND_SCIM_TOKEN", created.header.Get("X-Request-Id"), 1},
		{scim[1], "POST", "/Users", "attributes: nickNames, userName", 400, "invalidValue", "KIND_SCIM_TOKEN", bad.header.Get("X-Request-Id"), 0},
		{scim[0], "PATCH", "/Users/" + id, "replace active, password", 200, "", "KIND_ACCESS_KEY", "okta-req-42", 1},
	}
	for _, tc := range tests {
		s := tc.event.GetScim()
		if s.GetMethod() != tc.method || s.GetPath() != tc.path || s.GetStatus() != tc.status || s.GetScimType() != tc.scimType ||
			strings.Join(s.GetOperations(), "; ") != tc.ops || tc.event.GetActor().GetKind().String() != tc.actorKind ||
			tc.event.GetRequestId() != tc.requestID || tc.event.GetSource() != identityv1.AuditSource_AUDIT_SOURCE_SCIM {
			t.Errorf("%s %s: %v", tc.method, tc.path, tc.event)
		}
		if tc.actorKind == "KIND_SCIM_TOKEN" && tc.event.GetActor().GetId() != tokenID {
			t.Errorf("%s %s: actor %s, want the SCIM token %s", tc.method, tc.path, tc.event.GetActor().GetId(), tokenID)
		}
		if tc.status >= 400 && s.GetDetail() == "" {
			t.Errorf("%s %s: the error's detail is missing", tc.method, tc.path)
		}
		var writes int
		for _, ev := range byRequest[tc.requestID] {
			if ev.GetKind() == identityv1.AuditEventKind_AUDIT_EVENT_KIND_WRITE {
				writes++
				if ev.GetSource() != identityv1.AuditSource_AUDIT_SOURCE_SCIM {
					t.Errorf("write of %s %s from source %v", tc.method, tc.path, ev.GetSource())
				}
			}
		}
		if writes != tc.writes {
			t.Errorf("%s %s made %d writes, want %d", tc.method, tc.path, writes, tc.writes)
		}
	}
}
