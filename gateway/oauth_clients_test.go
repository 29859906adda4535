package gateway_test

import (
	"strings"
	"testing"
)

// TestOAuthClientsOverREST: a Project Admin registers confidential and
// public clients; the secret is answered once (never by get or list) and
// rotation replaces it; redirect URIs that exact matching cannot make safe
// are refused naming the field.
func TestOAuthClientsOverREST(t *testing.T) {
	hs, cred := newGateway(t)
	c := client{t: t, base: hs.URL, cred: cred}
	step := func(name, method, path, body string, want int) map[string]any {
		t.Helper()
		got, out := c.do(method, path, body)
		if got != want {
			t.Fatalf("%s: %s %s answered %d %v, want %d", name, method, path, got, out, want)
		}
		return out
	}

	conf := step("confidential", "POST", "/v1/oauthClients",
		`{"displayName":"Portal","redirectUris":["https://app.example.com/callback","http://127.0.0.1:8765/cb"]}`, 200)
	id, secret := str(conf, "client", "id"), str(conf, "clientSecret")
	if len(id) != 32 || len(secret) < 40 {
		t.Fatalf("client id %q, secret %q", id, secret)
	}
	pub := step("public", "POST", "/v1/oauthClients", `{"displayName":"SPA","redirectUris":["https://spa.example.com/"],"public":true}`, 200)
	if str(pub, "clientSecret") != "" || pub["client"].(map[string]any)["public"] != true {
		t.Fatalf("public client answer %v", pub)
	}
	got := step("get", "GET", "/v1/oauthClients/"+id, "", 200)
	if mustJSON(got) == "" || str(got, "clientSecret") != "" || str(got, "client", "displayName") != "Portal" {
		t.Fatalf("get answered %v", got)
	}
	if list := step("list", "GET", "/v1/oauthClients", "", 200); len(list["clients"].([]any)) != 2 {
		t.Fatalf("list answered %v", list)
	}
	rotated := step("rotate", "POST", "/v1/oauthClients/"+id+":rotateSecret", `{}`, 200)
	if s := str(rotated, "clientSecret"); s == "" || s == secret {
		t.Fatalf("rotation answered %v", rotated)
	}
	step("rotate public", "POST", "/v1/oauthClients/"+str(pub, "client", "id")+":rotateSecret", `{}`, 400)
	upd := step("update", "PATCH", "/v1/oauthClients/"+id, `{"redirectUris":["https://app.example.com/cb2"]}`, 200)
	if mustJSON(upd["client"].(map[string]any)["redirectUris"]) != `["https://app.example.com/cb2"]` || str(upd, "client", "displayName") != "Portal" {
		t.Fatalf("update answered %v", upd)
	}

	for _, tc := range []struct{ name, uri string }{
		{"http on a public host", "http://app.example.com/cb"},
		{"localhost (may resolve elsewhere)", "http://localhost:8080/cb"},
		{"fragment", "https://app.example.com/cb#x"},
		{"user information", "https://user@app.example.com/cb"},
		{"relative", "/callback"},
		{"javascript", "javascript:alert(1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := step(tc.name, "POST", "/v1/oauthClients", `{"displayName":"x","redirectUris":[`+mustJSON(tc.uri)+`]}`, 400)
			if !contains(mustJSON(out), `"field":"redirectUris[0]"`) {
				t.Fatalf("refusal does not name the field: %v", out)
			}
		})
	}
	step("no redirect URI", "POST", "/v1/oauthClients", `{"displayName":"x","redirectUris":[]}`, 400)
	step("delete", "DELETE", "/v1/oauthClients/"+id, "", 200)
	step("get deleted", "GET", "/v1/oauthClients/"+id, "", 404)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
