// Package auth says who is calling meshflow's HTTP API. An Authenticator turns a
// request into the name of a principal of the mesh (a name in mesh.yaml's
// principals), or into an error that says precisely why it cannot.
//
// Two implementations exist. Tokens checks bearer tokens against the tokenHash
// of each principal in mesh.yaml: the embedded default, for small meshes and
// development. OIDC verifies JWTs issued by an OpenID Connect provider (issuer,
// audience, expiry, signature with keys from the provider's JWKS) and maps one of
// their claims, by default "email", to a principal: the production choice.
//
// Authentication only names the caller. Whether that principal may decide on a
// run is for the run's Update validator, which knows the run's approval groups.
package auth
