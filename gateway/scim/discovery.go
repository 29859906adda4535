package scim

import (
	"net/http"
	"strings"

	"github.com/acme/identity/gateway/scim/resource"
)

// The discovery endpoints (RFC 7644 section 4) say exactly what is built:
// PATCH, Bulk, filters with their page limit, sorting, ETags and cursor
// paging; no password change.

func (s *Server) serviceProviderConfig(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/acme/identity#connecting-okta-to-a-tenant",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": maxBulkOperations, "maxPayloadSize": maxBulkPayload},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"pagination": map[string]any{
			"cursor": true, "index": true, "defaultPaginationMethod": "index",
			"defaultPageSize": defaultCount, "maxPageSize": maxCount,
		},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "Authorization: Bearer <the tenant's SCIM token>, or Bearer <ProjectID>:<AccessKey> of a key with Tenant Admin on one tenant",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.base + "/ServiceProviderConfig"},
	}, "")
	return nil
}

func (s *Server) resourceTypeList() []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":      "User", "name": "User", "endpoint": "/Users", "schema": resource.UserSchema,
			"description":      "User Account",
			"schemaExtensions": []map[string]any{{"schema": resource.EnterpriseSchema, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": s.base + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"},
			"id":      "Group", "name": "Group", "endpoint": "/Groups", "schema": resource.GroupSchema,
			"description": "Group: its members hold the tenant role of the same name",
			"meta":        map[string]any{"resourceType": "ResourceType", "location": s.base + "/ResourceTypes/Group"},
		},
	}
}

func listOf(items []map[string]any) resource.ListResponse {
	out := resource.ListResponse{Schemas: []string{resource.ListSchema}, TotalResults: len(items), ItemsPerPage: len(items), StartIndex: 1}
	for _, i := range items {
		out.Resources = append(out.Resources, i)
	}
	return out
}

func (s *Server) resourceTypes(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, listOf(s.resourceTypeList()), "")
	return nil
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request) error {
	for _, t := range s.resourceTypeList() {
		if strings.EqualFold(t["id"].(string), r.PathValue("name")) {
			writeJSON(w, http.StatusOK, t, "")
			return nil
		}
	}
	return errorf(http.StatusNotFound, "", "resource type %q not found", r.PathValue("name"))
}

// attribute describes one attribute for /Schemas (RFC 7643 section 7).
func attribute(name, typ string, multi, required bool, mutability string, caseExact bool, subs ...map[string]any) map[string]any {
	a := map[string]any{
		"name": name, "type": typ, "multiValued": multi, "required": required, "caseExact": caseExact,
		"mutability": mutability, "returned": "default", "uniqueness": "none",
	}
	if len(subs) > 0 {
		a["subAttributes"] = subs
	}
	return a
}

func str(name string) map[string]any {
	return attribute(name, "string", false, false, "readWrite", false)
}

// schemaList is the /Schemas documents, each with its location.
func (s *Server) schemaList() []map[string]any {
	docs := schemaDocs()
	for _, d := range docs {
		d["meta"] = map[string]any{"resourceType": "Schema", "location": s.base + "/Schemas/" + d["id"].(string)}
	}
	return docs
}

// schemaDocs describes every attribute this service keeps (RFC 7643 7); the
// same description decides which attributes a client may send (declared.go).
func schemaDocs() []map[string]any {
	userName := attribute("userName", "string", false, true, "readWrite", false)
	userName["uniqueness"] = "server"
	id := attribute("id", "string", false, false, "readOnly", true)
	id["returned"] = "always"
	multi := func(name string, subs ...map[string]any) map[string]any {
		return attribute(name, "complex", true, false, "readWrite", false, subs...)
	}
	primary := attribute("primary", "boolean", false, false, "readWrite", false)
	schema := func(id, name, description string, attrs ...map[string]any) map[string]any {
		return map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
			"id":      id, "name": name, "description": description, "attributes": attrs,
		}
	}
	// groups is read-only (RFC 7643 4.1.2): memberships change through
	// /Groups, and a user's groups sent in a body are ignored.
	readOnly := func(name, typ string, caseExact bool) map[string]any {
		return attribute(name, typ, false, false, "readOnly", caseExact)
	}
	groupsAttr := attribute("groups", "complex", true, false, "readOnly", false,
		readOnly("value", "string", true), readOnly("$ref", "reference", true), readOnly("display", "string", false), readOnly("type", "string", false))
	groupsAttr["returned"] = "request"
	members := attribute("members", "complex", true, false, "readWrite", false,
		attribute("value", "string", false, true, "immutable", true), str("display"), str("type"), attribute("$ref", "reference", false, false, "immutable", true))
	displayName := attribute("displayName", "string", false, true, "readWrite", false)
	displayName["uniqueness"] = "server"
	// A password is taken (and dropped: sign-in is the IdP's) but never
	// answered.
	password := attribute("password", "string", false, false, "writeOnly", true)
	password["returned"] = "never"
	return []map[string]any{
		schema(resource.UserSchema, "User", "User Account",
			id, userName, attribute("externalId", "string", false, false, "readWrite", true),
			attribute("name", "complex", false, false, "readWrite", false, str("formatted"), str("familyName"), str("givenName"),
				str("middleName"), str("honorificPrefix"), str("honorificSuffix")),
			str("displayName"), str("nickName"), str("profileUrl"), str("title"), str("userType"),
			str("preferredLanguage"), str("locale"), str("timezone"),
			attribute("active", "boolean", false, false, "readWrite", false),
			password,
			multi("emails", str("value"), str("display"), str("type"), primary),
			multi("phoneNumbers", str("value"), str("display"), str("type"), primary),
			multi("addresses", str("formatted"), str("streetAddress"), str("locality"), str("region"), str("postalCode"), str("country"), str("type"), primary),
			multi("ims", str("value"), str("display"), str("type"), primary),
			multi("photos", attribute("value", "reference", false, false, "readWrite", true), str("display"), str("type"), primary),
			multi("entitlements", str("value"), str("display"), str("type"), primary),
			multi("roles", str("value"), str("display"), str("type"), primary),
			multi("x509Certificates", attribute("value", "binary", false, false, "readWrite", true), str("display"), str("type"), primary),
			groupsAttr,
		),
		schema(resource.GroupSchema, "Group", "Group", id, displayName, attribute("externalId", "string", false, false, "readWrite", true), members),
		schema(resource.EnterpriseSchema, "EnterpriseUser", "Enterprise User",
			str("employeeNumber"), str("costCenter"), str("organization"), str("division"), str("department"),
			attribute("manager", "complex", false, false, "readWrite", false, str("value"), attribute("$ref", "reference", false, false, "readOnly", true), attribute("displayName", "string", false, false, "readOnly", false)),
		),
	}
}

func (s *Server) schemas(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, listOf(s.schemaList()), "")
	return nil
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) error {
	for _, sc := range s.schemaList() {
		if strings.EqualFold(sc["id"].(string), r.PathValue("id")) {
			writeJSON(w, http.StatusOK, sc, "")
			return nil
		}
	}
	return errorf(http.StatusNotFound, "", "schema %q not found", r.PathValue("id"))
}
