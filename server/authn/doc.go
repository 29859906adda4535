// Package authn finds who calls: the credential formats (access keys and SCIM
// tokens, secrets stored only as hashes), their verification with a cache of
// verified credentials that follows the change log, the Principal a request
// carries, and the root credential of a new deployment.
package authn
